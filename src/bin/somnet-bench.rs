//! `somnet-bench`: the simulator benchmarks in a lean process.
//!
//! `somnet bench` runs this binary when it sits beside `somnet`, so that the reported peak memory is
//! that of a process holding only the simulator — as the peers' figures are for Brian2's generated
//! C++ program and NEST's kernel — and not the HDF5 and image libraries the full CLI links.

use clap::Parser;

#[path = "../cli/bench.rs"]
mod bench;
#[path = "../cli/progress.rs"]
mod progress;

/// Runs `f` on a rayon pool of `threads` threads (0: rayon's default).
fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    Ok(pool.install(f))
}

/// somnet-bench: simulator benchmarks (same arguments as `somnet bench`).
#[derive(Debug, Parser)]
#[command(name = "somnet-bench", version)]
struct Cli {
    #[command(flatten)]
    args: bench::BenchArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = bench::run_here(cli.args) {
        eprintln!("somnet-bench: error: {e}");
        std::process::exit(1);
    }
}
