//! The `somnet` command line: parse, run, and map failures to a message and an exit code.

use clap::Parser;

mod cli;

/// Large arrays on cache lines: whole-vector loads and stores in the kernels ([`somnet::memory`]).
#[global_allocator]
static ALLOCATOR: somnet::memory::CacheAligned = somnet::memory::CacheAligned;

fn main() {
    keep_freed_memory();
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("somnet: error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

/// Tells glibc's allocator to keep freed memory instead of returning it to the kernel at once.
///
/// Training and simulation allocate and free arrays of several MiB every batch or run; with the
/// default thresholds each one comes back as fresh pages, and the page faults cost more than the
/// arithmetic (an epoch of the BN-CNN took 11.5 s instead of 6 s).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
