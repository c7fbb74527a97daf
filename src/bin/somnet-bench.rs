//! `somnet-bench`: the simulator benchmarks in a lean process.
//!
//! `somnet bench` runs this binary when it sits beside `somnet`, so that the reported peak memory is
//! that of a process holding only the simulator — as the peers' figures are for Brian2's generated
//! C++ program and NEST's kernel — and not the HDF5 and image libraries the full CLI links. It
//! takes the same arguments (`cuba|coba|coba-euler|izhikevich|polychronization --n N [--threads K] [--t-ms T] [--seed S]`), calls
//! [`somnet::benchmarks::run`] and prints its record as one JSON line; Ctrl-C stops the run at a
//! step and the record says how far it got.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use somnet::benchmarks::{self, Benchmark};

/// Large arrays on cache lines: whole-vector loads and stores in the kernels ([`somnet::memory`]).
#[global_allocator]
static ALLOCATOR: somnet::memory::CacheAligned = somnet::memory::CacheAligned;

static STOP: AtomicBool = AtomicBool::new(false);

/// The parsed command line.
struct Request {
    which: Benchmark,
    n: usize,
    threads: usize,
    t_ms: f64,
    seed: u64,
}

/// Parses `NETWORK --n N [--threads K] [--t-ms T] [--seed S]` (`--key=value` also accepted).
fn parse(args: &[String]) -> Result<Request, String> {
    let mut r = Request {
        which: Benchmark::Cuba,
        n: 0,
        threads: 1,
        t_ms: 1000.0,
        seed: 1,
    };
    let mut network = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(flag) = a.strip_prefix("--") else {
            network = Some(a.as_str());
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k, v.to_string()),
            None => (
                flag,
                it.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?
                    .clone(),
            ),
        };
        let bad = |what: &str| format!("--{key} {value}: expected {what}");
        match key {
            "n" => r.n = value.parse().map_err(|_| bad("a number of neurons"))?,
            "threads" => r.threads = value.parse().map_err(|_| bad("a number of threads"))?,
            "t-ms" => r.t_ms = value.parse().map_err(|_| bad("a time in ms"))?,
            "seed" => r.seed = value.parse().map_err(|_| bad("a whole number"))?,
            _ => return Err(format!("unknown option --{key} (n, threads, t-ms, seed)")),
        }
    }
    r.which = match network {
        Some("cuba") => Benchmark::Cuba,
        Some("coba") => Benchmark::Coba,
        Some("coba-euler") => Benchmark::CobaEuler,
        Some("izhikevich") => Benchmark::Izhikevich,
        Some("polychronization") => Benchmark::Polychronization,
        other => {
            return Err(format!(
                "network {other:?}: expected cuba, coba, coba-euler, izhikevich or polychronization"
            ))
        }
    };
    // A network of zero neurons is refused by the library, naming the population.
    if r.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(r)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail = |e: String| -> ! {
        eprintln!("somnet-bench: error: {e}");
        std::process::exit(1)
    };
    let r = parse(&args).unwrap_or_else(|e| fail(e));
    if let Err(e) = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst)) {
        eprintln!("somnet-bench: warning: cannot catch Ctrl-C: {e}");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(r.threads)
        .build()
        .unwrap_or_else(|e| fail(e.to_string()));
    let record = pool
        .install(|| {
            benchmarks::run(r.which, r.n, r.t_ms, r.seed, |_, _| {
                if STOP.load(Ordering::Relaxed) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        })
        .unwrap_or_else(|e| fail(e.to_string()));
    match serde_json::to_string(&record) {
        Ok(line) => println!("{line}"),
        Err(e) => fail(e.to_string()),
    }
}
