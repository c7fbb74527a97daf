//! `somnet bench cuba|coba|coba-euler|izhikevich|polychronization --n N --threads K [--t-ms T] [--seed S]`.

use clap::{Args, ValueEnum};

use super::progress::StepProgress;
use super::with_threads;
use somnet::benchmarks::{self, Benchmark};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Which {
    Cuba,
    Coba,
    /// COBA with the membrane by forward Euler (the scheme of Brian2's COBA script).
    CobaEuler,
    Izhikevich,
    Polychronization,
}

/// Arguments of `somnet bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The network: CUBA or COBA (Brette et al. 2007, benchmarks 2 and 1; `coba-euler` is COBA
    /// by forward Euler, the scheme of Brian2's COBA script), Izhikevich's 2003
    /// network, or his 2006 polychronization network (STDP, axonal delays; n = 1000 is the
    /// published one).
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

/// Runs the benchmark in the lean `somnet-bench` process when it sits beside this executable (so
/// that the peak memory measured is the simulator's), else here.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let lean = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("somnet-bench"))
        .filter(|p| p.is_file());
    match lean {
        Some(exe) => {
            use std::os::unix::process::CommandExt;
            let network = match args.network {
                Which::Cuba => "cuba",
                Which::Coba => "coba",
                Which::CobaEuler => "coba-euler",
                Which::Izhikevich => "izhikevich",
                Which::Polychronization => "polychronization",
            };
            super::progress::install_interrupt_handler();
            // Its own process group: a terminal's Ctrl-C reaches only this process, which passes
            // it on once, so the child stops cleanly at a step and still prints its record.
            let mut child = std::process::Command::new(&exe)
                .arg(network)
                .args([
                    format!("--n={}", args.n),
                    format!("--threads={}", args.threads),
                ])
                .args([
                    format!("--t-ms={}", args.t_ms),
                    format!("--seed={}", args.seed),
                ])
                .process_group(0)
                .spawn()
                .map_err(|e| anyhow::anyhow!("running {}: {e}", exe.display()))?;
            let mut forwarded = false;
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if super::progress::interrupted() && !forwarded {
                    // SAFETY: kill only sends a signal to the child we spawned.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
                    forwarded = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            if !status.success() {
                std::process::exit(status.code().unwrap_or(1));
            }
            Ok(())
        }
        None => run_here(args),
    }
}

/// Runs the benchmark in this process and prints its JSON line.
fn run_here(args: BenchArgs) -> anyhow::Result<()> {
    if args.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    let which = match args.network {
        Which::Cuba => Benchmark::Cuba,
        Which::Coba => Benchmark::Coba,
        Which::CobaEuler => Benchmark::CobaEuler,
        Which::Izhikevich => Benchmark::Izhikevich,
        Which::Polychronization => Benchmark::Polychronization,
    };
    let record = with_threads(args.threads, || {
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
