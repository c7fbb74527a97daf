//! SONATA export for NEST: the files hold the network (counts, converted weights and delays,
//! one node type per parameter set, initial states), the two-neuron network gives NEST 3.10's own
//! spike times (a fixture made by `benches/peers/sonata_nest.py`, see `tests/sonata/README.md`),
//! and what NEST cannot run is refused by name.

use std::path::{Path, PathBuf};

use somnet::io::sonata::{write, SonataOptions};
use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, Weights,
};
use somnet::neuron::{IafParams, IzhikevichParams, LifParams, NeuronModel, Port, Reset};

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch("sonata").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read_f64(path: &Path, dataset: &str) -> Vec<f64> {
    let f = somnet::io::h5::open(path).unwrap();
    f.dataset(dataset).unwrap().read_raw::<f64>().unwrap()
}

fn read_u64(path: &Path, dataset: &str) -> Vec<u64> {
    let f = somnet::io::h5::open(path).unwrap();
    f.dataset(dataset).unwrap().read_raw::<u64>().unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn cuba_goes_out_with_its_connectivity_and_weights_as_nest_currents() {
    let net = somnet::benchmarks::cuba::build(400, 3).unwrap();
    let dir = scratch("cuba");
    let out = write(&dir, &net, &SonataOptions::default()).unwrap();
    assert_eq!(
        out.populations,
        vec![("cuba".to_string(), "iaf_psc_exp".to_string(), 400)]
    );
    assert_eq!(out.node_types, 1);
    assert_eq!(out.edges, net.n_synapses());
    // Voltage jumps (mV) become currents (pA) through C_m/τ_m = 250/20 pF/ms: 1.62 → 20.25,
    // −9 → −112.5; positive weights go to τ_syn_ex = 5 ms, negative to τ_syn_in = 10 ms.
    let params = json(&dir.join("components/cell_models/type_100.json"));
    assert_eq!(params["tau_syn_ex"], 5.0);
    assert_eq!(params["tau_syn_in"], 10.0);
    assert_eq!(
        (params["E_L"].as_f64(), params["V_th"].as_f64()),
        (Some(-49.0), Some(-50.0))
    );
    assert_eq!(
        (params["V_reset"].as_f64(), params["t_ref"].as_f64()),
        (Some(-60.0), Some(5.0))
    );
    let mut total = 0;
    for (k, want) in [(0, 1.62 * 12.5), (1, -9.0 * 12.5)] {
        let file = dir.join(format!("network/edges_{k}.h5"));
        let pop = if k == 0 {
            "cuba_to_cuba_0"
        } else {
            "cuba_to_cuba_1"
        };
        let w = read_f64(&file, &format!("edges/{pop}/0/syn_weight"));
        assert!(
            w.iter().all(|&x| (x - want).abs() < 1e-4),
            "{want} vs {:?}",
            &w[..3]
        );
        // CUBA's one-step delay: NEST's smallest, one step late there (warned).
        let d = read_f64(&file, &format!("edges/{pop}/0/delay"));
        assert!(d.iter().all(|&x| (x - 0.1).abs() < 1e-12));
        let src = read_u64(&file, &format!("edges/{pop}/source_node_id"));
        // Excitatory sources are neurons 0..320, inhibitory 320..400.
        assert!(src.iter().all(|&s| (s < 320) == (k == 0) && s < 400));
        total += w.len() as u64;
    }
    assert_eq!(total, net.n_synapses());
    assert!(
        out.warnings.iter().any(|w| w.contains("later")),
        "{:?}",
        out.warnings
    );
    let types = std::fs::read_to_string(dir.join("network/node_types.csv")).unwrap();
    assert_eq!(
        types,
        "node_type_id model_type model_template dynamics_params\n100 point_process \
         nest:iaf_psc_exp type_100.json\n"
    );
    // Every neuron's initial membrane (uniform in [V_r, V_t]) goes beside the node types.
    let f = somnet::io::h5::open(&dir.join("network/initial_state.h5")).unwrap();
    let v = f
        .dataset("nodes/cuba/V_m")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    assert_eq!(
        v,
        net.state(PopulationId(0), somnet::network::StateVar::V)
            .unwrap()
    );
    assert!(v.iter().all(|&x| (-60.0..=-50.0).contains(&x)));
    let sim = json(&dir.join("simulation_config.json"));
    assert_eq!(
        (sim["run"]["dt"].as_f64(), sim["run"]["tstop"].as_f64()),
        (Some(0.1), Some(1000.0))
    );
    assert!(dir.join("run_nest.py").exists());
}

/// NEST 3.10's spikes of the two-neuron network (`tests/sonata/pair_nest_spikes.csv`).
fn nest_pair_spikes() -> Vec<(u32, f64)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sonata/pair_nest_spikes.csv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn the_two_neuron_network_fires_when_nest_fires_it_from_the_exported_files() {
    let mut net = somnet::benchmarks::pair::build().unwrap();
    let dir = scratch("pair");
    let out = write(&dir, &net, &SonataOptions::default()).unwrap();
    // The driven neuron and the silent one differ in I_e (25 mV · 250/20 = 312.5 pA): two types.
    assert_eq!(out.node_types, 2);
    let p0 = json(&dir.join("components/cell_models/type_100.json"));
    assert_eq!(p0["I_e"], 312.5);
    // A 10-step delay into iaf_psc_exp is 9 steps in NEST (its current starts a step later).
    let d = read_f64(
        &dir.join("network/edges_0.h5"),
        "edges/pair_to_pair_0/0/delay",
    );
    assert!((d[0] - 0.9).abs() < 1e-12, "{d:?}");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    let m = net.monitor_spikes(PopulationId(0), None).unwrap();
    net.run(10_000).unwrap(); // 1 s
    let ours: Vec<(u32, f64)> = net
        .spike_monitor(m)
        .events
        .iter()
        .map(|&(step, i)| (i, (step + 1) as f64 * 0.1))
        .collect();
    let mut theirs = nest_pair_spikes();
    let mut ours = ours;
    let key = |a: &(u32, f64), b: &(u32, f64)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1));
    theirs.sort_by(key);
    ours.sort_by(key);
    assert_eq!(ours.len(), theirs.len());
    assert!(
        ours.iter().filter(|s| s.0 == 1).count() > 10,
        "neuron 1 must fire"
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-6, "somnet {a:?}, NEST {b:?}");
    }
}

fn lif(reset: Reset) -> NeuronModel {
    NeuronModel::Lif(LifParams {
        reset,
        ..LifParams::default()
    })
}

fn net_01() -> Network {
    Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed: 1,
        max_delay_ms: 2.0,
    })
    .unwrap()
}

#[test]
fn izhikevich_and_delta_lif_populations_map_to_their_nest_models() {
    let mut net = net_01();
    let izh =
        IzhikevichParams::heterogeneous(vec![0.02, 0.1], vec![0.2], vec![-65.0], vec![8.0, 2.0]);
    let a = net
        .add_population("izh", 2, NeuronModel::Izhikevich(izh), vec![Port::Delta])
        .unwrap();
    let b = net
        .add_population(
            "lif delta",
            3,
            lif(Reset::ToValue { v_reset_mv: -60.0 }),
            vec![Port::Delta],
        )
        .unwrap();
    let conn = Connection::new(Connector::AllToAll, Weights::Constant(2.0)).delay(Delay::Steps(4));
    net.connect(a, b, conn).unwrap();
    let dir = scratch("izh");
    let out = write(&dir, &net, &SonataOptions::default()).unwrap();
    let models: Vec<&str> = out.populations.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(models, ["izhikevich", "iaf_psc_delta"]);
    assert_eq!(out.node_types, 3, "two (a, d) pairs and one LIF set");
    let p = json(&dir.join("components/cell_models/type_101.json"));
    assert_eq!(
        (p["a"].as_f64(), p["d"].as_f64()),
        (Some(0.1f32 as f64), Some(2.0))
    );
    // Into iaf_psc_delta a weight is a voltage jump, as here, and a delay is the same.
    let file = dir.join("network/edges_0.h5");
    let w = read_f64(&file, "edges/izh_to_lif_delta_0/0/syn_weight");
    assert_eq!(w, vec![2.0; 6]);
    let d = read_f64(&file, "edges/izh_to_lif_delta_0/0/delay");
    assert!(d.iter().all(|&x| (x - 0.4).abs() < 1e-12));
    let f = somnet::io::h5::open(&dir.join("network/initial_state.h5")).unwrap();
    let u = f
        .dataset("nodes/izh/U_m")
        .unwrap()
        .read_raw::<f32>()
        .unwrap();
    assert_eq!(u, vec![0.2 * -65.0; 2]);
}

#[test]
fn what_nest_cannot_run_is_refused_by_name() {
    let cases: Vec<(Network, &str)> = vec![
        {
            let mut net = net_01();
            net.add_population("soft", 2, lif(Reset::BySubtraction), vec![Port::Delta])
                .unwrap();
            (net, "reset by subtraction")
        },
        {
            let mut net = net_01();
            net.add_population(
                "if",
                2,
                NeuronModel::Iaf(IafParams::default()),
                vec![Port::Delta],
            )
            .unwrap();
            (net, "non-leaky")
        },
        {
            let mut net = net_01();
            net.add_poisson("noise", 3, 10.0).unwrap();
            (net, "spike sources")
        },
        {
            let mut net = net_01();
            let ports = vec![
                Port::Exponential { tau_ms: 5.0 },
                Port::Exponential { tau_ms: 10.0 },
            ];
            let p = net
                .add_population("mixed", 2, lif(Reset::ToValue { v_reset_mv: -60.0 }), ports)
                .unwrap();
            let w = Weights::Values(vec![1.0, -1.0]);
            let c = Connection::new(Connector::List(vec![(0, 1), (1, 0)]), w).port(0);
            net.connect(p, p, c).unwrap();
            (net, "both signs")
        },
    ];
    for (net, what) in cases {
        let dir = scratch("bad");
        let e = write(&dir, &net, &SonataOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "{what}: {e}");
    }
    let net = net_01();
    let bad = SonataOptions {
        tstop_ms: -1.0,
        ..SonataOptions::default()
    };
    let e = write(&scratch("t"), &net, &bad).unwrap_err().to_string();
    assert!(e.contains("tstop"), "{e}");
}

fn somnet() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
}

#[test]
fn export_sonata_with_run_writes_somnets_spikes_in_nests_format() {
    // somnet's own spikes of the two-neuron network, written beside the circuit, are NEST 3.10's
    // spikes of the exported circuit line for line (tests/sonata/README.md).
    let dir = scratch("cli_pair");
    let out = somnet()
        .args([
            "export-sonata",
            "--network",
            "pair",
            "--tstop",
            "1000",
            "--run",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = std::fs::read_to_string(dir.join("somnet_spikes.csv")).unwrap();
    let nest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sonata/pair_nest_spikes.csv"),
    )
    .unwrap();
    assert_eq!(ours, nest);
    let out = somnet()
        .args(["export-sonata", "--network", "cuba:many"])
        .arg(scratch("cli_bad"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("'many' is not a neuron count"),
        "{stderr}"
    );
}
