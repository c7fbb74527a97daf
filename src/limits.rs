//! The bound on what a declared size may make somnet allocate.
//!
//! Files and specs from elsewhere declare sizes (IDX dimensions, HDF5 dataset shapes, string
//! lengths, image dimensions, layer widths in an architecture spec). Every such size is checked
//! here before anything is allocated for it: against the file where the data must lie in it
//! uncompressed, and against one process-wide limit where it need not (compressed data, fill
//! values, weights to be initialised). The limit is 8 GiB by default — above any single array of
//! the networks and data sets somnet is used with (VGG-16's largest weight matrix is 0.4 GB, all
//! of CIFAR-10 as float32 0.7 GB) and below what makes a machine swap — and can be changed with
//! the environment variable `SOMNET_MAX_BYTES` or [`set_max_bytes`].
//!
//! ```
//! use somnet::limits;
//! assert!(limits::check("model.h5", "dataset 'weights'", 1 << 20).is_ok());
//! let err = limits::check("model.h5", "dataset 'weights'", u64::MAX as u128 * 4).unwrap_err();
//! assert!(err.to_string().contains("dataset 'weights'"));
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The default limit: 8 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 8 << 30;

/// 0: not yet read from the environment.
static MAX_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// A bound for the current thread only ([`with_max_bytes`]); 0: none.
    static LOCAL_MAX: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The largest allocation a declared size may ask for, in bytes.
pub fn max_bytes() -> u64 {
    let local = LOCAL_MAX.with(|l| l.get());
    if local > 0 {
        return local;
    }
    match MAX_BYTES.load(Ordering::Relaxed) {
        0 => {
            let v = std::env::var("SOMNET_MAX_BYTES")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&v| v > 0)
                .unwrap_or(DEFAULT_MAX_BYTES);
            MAX_BYTES.store(v, Ordering::Relaxed);
            v
        }
        v => v,
    }
}

/// Sets the limit for this process (users set `SOMNET_MAX_BYTES` instead).
pub fn set_max_bytes(bytes: u64) {
    MAX_BYTES.store(bytes.max(1), Ordering::Relaxed);
}

/// Runs `f` with the limit lowered to `bytes` on this thread only (the fuzz targets: other
/// threads of the process, such as tests running beside them, keep theirs).
///
/// ```
/// use somnet::limits::{max_bytes, with_max_bytes};
/// let outside = max_bytes();
/// assert_eq!(with_max_bytes(1024, max_bytes), 1024);
/// assert_eq!(max_bytes(), outside);
/// ```
pub fn with_max_bytes<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    let before = LOCAL_MAX.with(|l| l.replace(bytes.max(1)));
    // Restored on unwinding too, so a panicking input cannot leak the bound.
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOCAL_MAX.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(before);
    f()
}

/// Checks that `bytes` (what `field` of `source` declares) is within the limit; the error names
/// both and the sizes.
pub fn check(source: impl AsRef<Path>, field: &str, bytes: u128) -> Result<()> {
    let max = max_bytes();
    if bytes > max as u128 {
        return Err(Error::file(
            source.as_ref(),
            format!(
                "{field} declares {}, more than the limit of {} (SOMNET_MAX_BYTES)",
                human(bytes),
                human(max as u128)
            ),
        ));
    }
    Ok(())
}

/// Checks that `bytes` declared by `field` can lie in `source`, a file of `file_len` bytes, and
/// are within the limit.
pub fn check_in_file(
    source: impl AsRef<Path>,
    field: &str,
    bytes: u128,
    file_len: u64,
) -> Result<()> {
    if bytes > file_len as u128 {
        return Err(Error::file(
            source.as_ref(),
            format!(
                "{field} declares {}, but the whole file is only {} bytes (corrupt or truncated)",
                human(bytes),
                file_len
            ),
        ));
    }
    check(source, field, bytes)
}

/// `12345678901` → `11.5 GiB (12345678901 bytes)`.
fn human(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {} ({bytes} bytes)", units[u])
    }
}
