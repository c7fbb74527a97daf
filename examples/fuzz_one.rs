//! Runs one fuzz entry point (`somnet::fuzzing`) on one input file, on stable Rust and without
//! sanitizers, so that a finding can be looked at with ordinary tools (heaptrack, gdb, time):
//!
//!     cargo run --release --example fuzz_one -- nir_file fuzz/hdf5-library/nir-oom-…

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(target), Some(input)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: fuzz_one TARGET INPUT (targets: {})",
            somnet::fuzzing::TARGETS.join(", ")
        );
        std::process::exit(2);
    };
    let Some(run) = somnet::fuzzing::by_name(target) else {
        eprintln!("no fuzz target '{target}'");
        std::process::exit(2);
    };
    let bytes = std::fs::read(input).unwrap_or_else(|e| {
        eprintln!("{input}: {e}");
        std::process::exit(2);
    });
    run(&bytes);
}
