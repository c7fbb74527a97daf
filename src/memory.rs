//! An allocator that starts every large array on a cache line, for the programs that run
//! somnet's kernels (the `somnet` and `somnet-bench` binaries and the Python module install it).
//!
//! The kernels read and write whole vectors of 16 floats (64 bytes with AVX-512, two of 32 with
//! AVX2): weight runs, accumulator slots, potentials, firing flags. The system allocator starts a
//! block on 16 bytes, so such a vector usually straddles two cache lines, and every load or store
//! of it is two. Raising the alignment of large blocks to a line makes those accesses whole: a
//! converted LeNet ran 11 % faster end to end (952 against 858 images/s, 2 threads, medians of 5
//! alternated runs, AVX-512 EPYC; see the closing notes of the batched-inference issue). Small
//! blocks keep the system's alignment, so they waste nothing.
//!
//! A library cannot choose the allocator of the program that uses it, so this is a type to
//! install, not a default:
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: somnet::memory::CacheAligned = somnet::memory::CacheAligned;
//!
//! let v = vec![0.0f32; 1024];
//! assert_eq!(v.as_ptr() as usize % somnet::memory::LINE, 0);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Bytes in a cache line on x86-64 CPUs: the alignment given to large blocks.
pub const LINE: usize = 64;

/// Blocks of at least this many bytes (four lines) are aligned to [`LINE`]: below it the
/// vector kernels are not involved and the padding would be a large share of the block.
pub const ALIGNED_FROM: usize = 4 * LINE;

/// The system allocator, with blocks of [`ALIGNED_FROM`] bytes or more aligned to a cache line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheAligned;

/// The layout a request is served with: its own, with the alignment raised for a large block.
#[inline]
fn served(layout: Layout) -> Layout {
    if layout.size() >= ALIGNED_FROM && layout.align() < LINE {
        Layout::from_size_align(layout.size(), LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every block is allocated and freed by `System` with the same layout (`served` of the
// caller's layout, which is a function of that layout alone), and its alignment is at least the
// caller's.
unsafe impl GlobalAlloc for CacheAligned {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract (non-zero size), kept by `served`.
        unsafe { System.alloc(served(layout)) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(served(layout)) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this caller layout, so from `System` with `served`.
        unsafe { System.dealloc(ptr, served(layout)) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old, new) = (
            served(layout),
            served(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout)),
        );
        if old.align() == new.align() {
            // Same served alignment: the system may grow the block in place.
            // SAFETY: `ptr` was served with `old`; `new_size` is the caller's valid size.
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // The block crosses ALIGNED_FROM: a new block, the contents copied, the old one freed.
        // SAFETY: `new` has a non-zero size; both blocks hold at least the copied bytes.
        unsafe {
            let moved = System.alloc(new);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
            moved
        }
    }
}

/// Asks the CPU to bring the cache line holding `p` into its caches, without waiting for it and
/// without faulting: a hint, so any address (even one past an array's end) is allowed. Used where
/// a loop knows the addresses of several far-apart reads before it needs them (synapse rows of
/// spikes: without the hint each row's first line is a miss waited on in turn). A no-op off
/// x86-64.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes no state a program can observe; SSE (which
    // has it) is part of x86-64's baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_start_on_a_line_and_small_ones_keep_their_alignment() {
        let a = CacheAligned;
        for size in [ALIGNED_FROM, 1000, 4096 + 4, 1 << 20] {
            let layout = Layout::from_size_align(size, 4).unwrap();
            // SAFETY: non-zero size; freed with the same layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % LINE, 0, "{size} bytes");
                a.dealloc(p, layout);
            }
        }
        let small = Layout::from_size_align(24, 8).unwrap();
        // SAFETY: as above.
        unsafe {
            let p = a.alloc(small);
            assert_eq!(p as usize % 8, 0);
            a.dealloc(p, small);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_the_threshold_both_ways() {
        let a = CacheAligned;
        let layout = Layout::from_size_align(40, 4).unwrap();
        // SAFETY: each pointer is used with the layout it was last served with.
        unsafe {
            let p = a.alloc(layout);
            for i in 0..40 {
                *p.add(i) = i as u8;
            }
            // Small to large: moved onto a line, contents kept.
            let q = a.realloc(p, layout, 5000);
            assert_eq!(q as usize % LINE, 0);
            assert!((0..40).all(|i| *q.add(i) == i as u8));
            for i in 40..5000 {
                *q.add(i) = (i % 251) as u8;
            }
            // Large to larger: still on a line.
            let big = Layout::from_size_align(5000, 4).unwrap();
            let r = a.realloc(q, big, 20000);
            assert_eq!(r as usize % LINE, 0);
            assert!((40..5000).all(|i| *r.add(i) == (i % 251) as u8));
            // Large to small: the first bytes kept.
            let bigger = Layout::from_size_align(20000, 4).unwrap();
            let s = a.realloc(r, bigger, 16);
            assert!((0..16).all(|i| *s.add(i) == i as u8));
            a.dealloc(s, Layout::from_size_align(16, 4).unwrap());
        }
    }
}
