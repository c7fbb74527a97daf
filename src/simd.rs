//! Vector kernels chosen at run time: one build runs on any x86-64 CPU and uses AVX2 or AVX-512
//! where the CPU has them.
//!
//! The hot loops (neuron block steps, spike collection, spike delivery) are written once, generic
//! over `const ISA: u8` ([`PORTABLE`], [`AVX2`], [`AVX512`]), and entered through
//! `dispatch!`, which reads [`level`] once per call and runs the body
//! inside a function compiled with that level's target features (`run`). Inside a body, `ISA`
//! is a constant: code that uses intrinsics checks it statically, and nested kernels are called
//! with the same `ISA`.
//!
//! **Same numbers on every path.** Every vectorised loop is elementwise, floating-point
//! reductions stay in source order (Rust never lets LLVM reassociate them) and Rust never
//! contracts `a·b + c` into a fused multiply-add, so AVX-512, AVX2 and the portable code give the
//! same bits; `tests/it/simd.rs` checks this on random inputs and the golden digests.
//!
//! **Choosing a path.** [`level`] is the best level the CPU has, or what the environment variable
//! `SOMNET_SIMD` (`portable`, `avx2`, `avx512`; `auto` or unset for the best) asks for, capped at
//! what the CPU has. [`set_level`] changes it in-process (tests run every path in one process).
//!
//! **Safety contract.** A body is instantiated with `ISA = AVX2` or `AVX512` only by
//! `dispatch!` after [`level`] said the CPU has those features, or by `run` from inside such a
//! body: the `unsafe` calls into the target-feature functions rely on that.

use std::sync::atomic::{AtomicU8, Ordering};

/// Plain x86-64 (SSE2) or another architecture: what the compiler's baseline allows.
pub const PORTABLE: u8 = 0;
/// AVX2 with FMA, BMI1/2, LZCNT and POPCNT (x86-64-v3).
pub const AVX2: u8 = 1;
/// AVX-512 F/BW/CD/DQ/VL on top of [`AVX2`] (x86-64-v4).
pub const AVX512: u8 = 2;

/// A vector instruction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// [`PORTABLE`].
    Portable,
    /// [`AVX2`].
    Avx2,
    /// [`AVX512`].
    Avx512,
}

impl Level {
    /// `portable`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn code(self) -> u8 {
        match self {
            Level::Portable => PORTABLE,
            Level::Avx2 => AVX2,
            Level::Avx512 => AVX512,
        }
    }

    fn from_code(c: u8) -> Level {
        match c {
            AVX512 => Level::Avx512,
            AVX2 => Level::Avx2,
            _ => Level::Portable,
        }
    }
}

/// The best level this CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v3 = has!("avx2")
            && has!("avx")
            && has!("fma")
            && has!("bmi1")
            && has!("bmi2")
            && has!("lzcnt")
            && has!("popcnt");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        if v4 {
            return Level::Avx512;
        }
        if v3 {
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// Not yet decided.
const UNSET: u8 = u8::MAX;
static LEVEL: AtomicU8 = AtomicU8::new(UNSET);

/// The level the kernels run at: `SOMNET_SIMD` if set (capped at what the CPU has), else the
/// best the CPU has. Decided on first use.
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        UNSET => {
            let wanted = match std::env::var("SOMNET_SIMD").as_deref() {
                Ok("portable") => Level::Portable,
                Ok("avx2") => Level::Avx2,
                _ => Level::Avx512,
            };
            let l = wanted.min(detected());
            LEVEL.store(l.code(), Ordering::Relaxed);
            l
        }
        c => Level::from_code(c),
    }
}

/// Runs the kernels at `wanted` from now on, capped at what the CPU has; returns the level set.
/// Results do not depend on the level, only speed does.
pub fn set_level(wanted: Level) -> Level {
    let l = wanted.min(detected());
    LEVEL.store(l.code(), Ordering::Relaxed);
    l
}

/// Runs `f` compiled with AVX-512 (and AVX2) enabled: `f` is inlined here, so its loops are
/// vectorised with those instructions.
///
/// # Safety
/// The CPU must support [`AVX512`] (see the module's safety contract).
#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt"
)]
pub(crate) unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled with AVX2 enabled (see [`with_avx512`]).
///
/// # Safety
/// The CPU must support [`AVX2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt")]
pub(crate) unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for `ISA`, inside a body already running at `ISA` (a kernel that is not
/// inlined into its caller, so it needs its own target-feature function). Mark the closure
/// `#[inline(always)]`, as [`dispatch!`] does: a closure left as a call runs compiled for the
/// baseline, whatever `ISA` says.
#[inline(always)]
pub(crate) fn run<const ISA: u8, R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if ISA == AVX512 {
            // SAFETY: ISA = AVX512 only inside a body `dispatch!` entered after `level()` found
            // AVX-512 (module safety contract).
            return unsafe { with_avx512(f) };
        }
        if ISA == AVX2 {
            // SAFETY: as above, for AVX2.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

/// `dispatch!(ISA => expr)`: evaluates `expr` with the constant `ISA` set to the current
/// [`level`], compiled with that level's target features.
///
/// For example `pub fn add(a: &mut [f32], b: &[f32]) { dispatch!(ISA => add_body::<ISA>(a, b)) }`
/// with `#[inline(always)] fn add_body<const ISA: u8>(…)`.
macro_rules! dispatch {
    ($isa:ident => $body:expr) => {
        match $crate::simd::level() {
            // The closures are inlined into the target-feature function by force: left to the
            // inliner, a large body stayed a call and ran compiled for the baseline (SSE2).
            $crate::simd::Level::Avx512 => {
                const $isa: u8 = $crate::simd::AVX512;
                $crate::simd::run::<$isa, _>(
                    #[inline(always)]
                    move || $body,
                )
            }
            $crate::simd::Level::Avx2 => {
                const $isa: u8 = $crate::simd::AVX2;
                $crate::simd::run::<$isa, _>(
                    #[inline(always)]
                    move || $body,
                )
            }
            $crate::simd::Level::Portable => {
                const $isa: u8 = $crate::simd::PORTABLE;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
pub(crate) mod tests {
    /// Held by tests that switch the level, so that two of them do not interleave.
    pub(crate) static LEVEL_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn the_level_is_capped_at_what_the_cpu_has() {
        let _guard = LEVEL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let best = super::detected();
        assert_eq!(super::set_level(super::Level::Avx512), best);
        assert_eq!(super::level(), best);
        assert_eq!(
            super::set_level(super::Level::Portable),
            super::Level::Portable
        );
        assert_eq!(super::level(), super::Level::Portable);
        super::set_level(best);
    }
}
