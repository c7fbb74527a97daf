//! `somnet bench cuba|izhikevich --n N --threads K [--t-ms T] [--seed S]`.

use clap::{Args, ValueEnum};

use super::progress::StepProgress;
use somnet::benchmarks::{self, Benchmark};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Cuba,
    Izhikevich,
}

/// Arguments of `somnet bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The network (see `../specs/benchmarks.md`).
    #[arg(value_enum)]
    network: Which,
    /// Number of neurons.
    #[arg(long)]
    n: usize,
    /// Threads (1 = no parallelism).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Biological time to simulate (ms).
    #[arg(long, default_value_t = 1000.0)]
    t_ms: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    let which = match args.network {
        Which::Cuba => Benchmark::Cuba,
        Which::Izhikevich => Benchmark::Izhikevich,
    };
    let record = super::with_threads(args.threads, || {
        let mut bar: Option<StepProgress> = None;
        let r = benchmarks::run(which, args.n, args.t_ms, args.seed, |done, total| {
            bar.get_or_insert_with(|| StepProgress::new("simulating", total))
                .tick(done)
        });
        if let Some(b) = bar {
            b.finish();
        }
        r
    })??;
    println!("{}", serde_json::to_string(&record)?);
    Ok(())
}
