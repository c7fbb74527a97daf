//! `somnet export-sonata --network cuba:4000 --tstop 1000 [--run] OUT`: an engine network as a
//! SONATA circuit for NEST (see [`somnet::io::sonata`]); with `--run`, somnet's own spikes of the
//! same network beside it (OUT/somnet_spikes.csv) for `run_nest.py` to compare with.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::io::sonata::{write, SonataOptions};
use somnet::network::{Network, PopulationId};

/// Arguments of `somnet export-sonata`.
#[derive(Debug, Args)]
pub struct ExportSonataArgs {
    /// The network: cuba:N (Brette et al. 2007 CUBA with N neurons), izhikevich:N (Izhikevich
    /// 2003) or pair (two LIF neurons for spike-time comparisons).
    #[arg(long, default_value = "cuba:4000")]
    network: String,
    /// Seed of the network's random connectivity and initial state.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time (ms).
    #[arg(long, default_value_t = 1000.0)]
    tstop: f64,
    /// Membrane capacitance of the current-based NEST models (pF).
    #[arg(long, default_value_t = 250.0)]
    c_m: f64,
    /// Also simulate the network here for --tstop and write OUT/somnet_spikes.csv.
    #[arg(long)]
    run: bool,
    /// The output folder.
    out: PathBuf,
}

/// The network named by `--network`.
fn network(spec: &str, seed: u64) -> anyhow::Result<Network> {
    let (name, n) = match spec.split_once(':') {
        Some((name, n)) => {
            let n: usize = n
                .parse()
                .with_context(|| format!("--network {spec}: '{n}' is not a neuron count"))?;
            (name, Some(n))
        }
        None => (spec, None),
    };
    Ok(match (name, n) {
        ("cuba", Some(n)) => somnet::benchmarks::cuba::build(n, seed)?,
        ("izhikevich", Some(n)) => somnet::benchmarks::izhikevich::build(n, seed)?,
        ("pair", None) => somnet::benchmarks::pair::build()?,
        _ => anyhow::bail!("--network {spec}: expected cuba:N, izhikevich:N or pair"),
    })
}

pub fn run(args: ExportSonataArgs) -> anyhow::Result<()> {
    let net = network(&args.network, args.seed)?;
    let options = SonataOptions {
        tstop_ms: args.tstop,
        c_m_pf: args.c_m,
    };
    let export = write(&args.out, &net, &options)?;
    for w in &export.warnings {
        eprintln!("warning: {w}");
    }
    let neurons: usize = export.populations.iter().map(|p| p.2).sum();
    println!(
        "wrote {} (SONATA for NEST: {neurons} neurons in {} node types, {} edges; run it with \
         `python {}/run_nest.py {}`)",
        args.out.display(),
        export.node_types,
        export.edges,
        args.out.display(),
        args.out.display()
    );
    if args.run {
        let mut net = network(&args.network, args.seed)?;
        let steps = (args.tstop / net.config().dt_ms).round() as u64;
        let monitors = (0..net.populations().len())
            .map(|p| net.monitor_spikes(PopulationId(p as u32), None))
            .collect::<somnet::Result<Vec<_>>>()?;
        net.run(steps)?;
        let dt = net.config().dt_ms;
        let mut rows = Vec::new();
        for ((name, _, _), m) in export.populations.iter().zip(&monitors) {
            for &(step, i) in &net.spike_monitor(*m).events {
                // NEST stamps a spike with the end of the step in which it is emitted.
                rows.push(((step + 1) as f64 * dt, name.clone(), i));
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut text = String::from("population,node_id,time_ms\n");
        for (t, name, i) in &rows {
            text.push_str(&format!("{name},{i},{t:.4}\n"));
        }
        let path = args.out.join("somnet_spikes.csv");
        somnet::io::report::write_text(&path, &text)?;
        println!(
            "somnet: {} spikes in {} ms -> {}",
            rows.len(),
            args.tstop,
            path.display()
        );
    }
    Ok(())
}
