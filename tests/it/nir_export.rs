//! Converted networks written as NIR: the round trip somnet → NIR → somnet gives the spikes the
//! converter's own network gives, step by step, for every knob NIR (with somnet's metadata) can
//! carry; what NIR cannot express is refused or warned about by name.

use ndarray::{Array1, Array3};
use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::Ann;
use somnet::convert::build::build_with;
use somnet::convert::options::{ConvertOptions, InitialPotential, InputCoding, NeuronChoice};
use somnet::convert::options::{Readout, ResetChoice};
use somnet::convert::to_nir::to_nir;
use somnet::io::nir::{Meta, Node};
use somnet::simulate::{Framework, SimOptions, Simulation};

const STEPS: usize = 40;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = crate::common::scratch("nir-export");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A seeded network of `spec` with its weights scaled so that layers neither fall silent nor
/// saturate under unit thresholds.
fn network(spec: &str, input: &[usize], gain: f32) -> Ann {
    let mut ann = build(spec, input, 10, &ArchOptions::default(), 7).unwrap();
    for layer in &mut ann.layers {
        match layer {
            somnet::ann::Layer::Dense(d) => d.weights *= gain,
            somnet::ann::Layer::Conv2d(c) => c.weights *= gain,
            _ => {}
        }
    }
    ann
}

/// Seeded images in [0, 1).
fn images(n: usize, len: usize) -> Vec<Array1<f32>> {
    let mut s = 12345u64;
    (0..n)
        .map(|_| {
            Array1::from_shape_fn(len, |_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32
            })
        })
        .collect()
}

/// The converter's own network on each image: (input per step as the NIR graph receives it,
/// output per step: spikes as 1.0, or the output membrane).
fn converter_run(
    ann: &Ann,
    options: &ConvertOptions,
    xs: &[Array1<f32>],
) -> (Array3<f32>, Array3<f32>) {
    let mut snn = build_with(ann, options).unwrap();
    let n_in = xs[0].len();
    let out = snn.output();
    let n_out = snn.net.population(out).len();
    let mut input = Array3::zeros((xs.len(), STEPS, n_in));
    let mut output = Array3::zeros((xs.len(), STEPS, n_out));
    for (b, x) in xs.iter().enumerate() {
        snn.present(x.view()).unwrap();
        for t in 0..STEPS {
            snn.step(b as u64, t as u64).unwrap();
            match snn.input_population() {
                Some(p) => {
                    for &i in snn.net.population(p).last_spikes() {
                        input[[b, t, i as usize]] = 1.0;
                    }
                }
                None => input.slice_mut(ndarray::s![b, t, ..]).assign(x),
            }
            if options.readout == Readout::Membrane {
                let v = snn.net.state(out, somnet::network::StateVar::V).unwrap();
                for (j, v) in v.iter().enumerate() {
                    output[[b, t, j]] = *v;
                }
            } else {
                for &j in snn.net.population(out).last_spikes() {
                    output[[b, t, j as usize]] = 1.0;
                }
            }
        }
    }
    (input, output)
}

/// Exports, writes, reads back and simulates with the options the file names.
fn nir_run(ann: &Ann, options: &ConvertOptions, input: &Array3<f32>, name: &str) -> Array3<f32> {
    let export = to_nir(ann, options, &[]).unwrap();
    let path = scratch(name);
    somnet::io::nir::write(&path, &export.graph).unwrap();
    let graph = somnet::io::nir::read(&path).unwrap();
    let sim_options = SimOptions::for_graph(&graph).unwrap();
    assert_eq!(sim_options.from, Framework::Somnet);
    let sim = Simulation::new(&graph, &sim_options).unwrap();
    sim.run(input.view(), &|_| std::ops::ControlFlow::Continue(()))
        .unwrap()
        .output
}

fn assert_round_trip(spec: &str, shape: &[usize], gain: f32, options: ConvertOptions, name: &str) {
    let ann = network(spec, shape, gain);
    let xs = images(3, shape.iter().product());
    let (input, ours) = converter_run(&ann, &options, &xs);
    let theirs = nir_run(&ann, &options, &input, name);
    assert_eq!(theirs.shape(), ours.shape(), "{name}");
    if options.readout == Readout::Membrane {
        for (a, b) in theirs.iter().zip(&ours) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{name}: {a} vs {b}"
            );
        }
        return;
    }
    let spikes = ours.sum();
    assert!(
        spikes > 0.0,
        "{name}: the output layer must fire for the test to mean anything"
    );
    let differ = theirs.iter().zip(&ours).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ, 0,
        "{name}: {differ} of {spikes} output spikes differ"
    );
}

const CNN: &str = "c6k3-relu-ap2-c8k3s2same-relu-flat-d10-out";

#[test]
fn a_converted_mlp_round_trips_through_nir_with_identical_spikes() {
    let spec = "mlp:64-32-10";
    assert_round_trip(spec, &[64], 0.6, ConvertOptions::default(), "mlp.nir");
    let zero = ConvertOptions {
        reset: ResetChoice::Zero,
        ..ConvertOptions::default()
    };
    assert_round_trip(spec, &[64], 0.6, zero, "mlp_zero.nir");
    let half = ConvertOptions {
        initial: InitialPotential::HalfThreshold,
        ..ConvertOptions::default()
    };
    assert_round_trip(spec, &[64], 0.6, half, "mlp_half.nir");
    let lif = ConvertOptions {
        neuron: NeuronChoice::Lif { tau_mem_ms: 20.0 },
        ..ConvertOptions::default()
    };
    assert_round_trip(spec, &[64], 0.8, lif, "mlp_lif.nir");
    let poisson = ConvertOptions {
        input: InputCoding::Poisson,
        seed: 3,
        ..ConvertOptions::default()
    };
    assert_round_trip(spec, &[64], 0.8, poisson, "mlp_poisson.nir");
    let membrane = ConvertOptions {
        readout: Readout::Membrane,
        ..ConvertOptions::default()
    };
    assert_round_trip(spec, &[64], 0.6, membrane, "mlp_membrane.nir");
}

#[test]
fn a_converted_cnn_round_trips_through_nir_with_identical_spikes() {
    // An uneven TensorFlow 'same' convolution (6×6 → 3×3, stride 2: one zero after, none
    // before) goes out as an Affine; the valid one as Conv2d, the 2×2 average pooling as a
    // SumPool2d into neurons of threshold 4.
    let ann = network(CNN, &[2, 14, 14], 1.0);
    let export = to_nir(&ann, &ConvertOptions::default(), &[]).unwrap();
    let kinds: Vec<&str> = export.graph.nodes.values().map(|n| n.kind()).collect();
    for kind in ["Conv2d", "SumPool2d", "Affine", "Flatten", "IF"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let Node::Neuron(pooled) = &export.graph.nodes["avgpool2d_1_neurons"] else {
        panic!("{:?}", export.graph.nodes.keys())
    };
    assert!(pooled
        .v_threshold
        .as_ref()
        .unwrap()
        .iter()
        .all(|&t| t == 4.0));
    assert!(
        export.warnings.iter().any(|w| w.contains("uneven")),
        "{:?}",
        export.warnings
    );
    assert_round_trip(CNN, &[2, 14, 14], 1.0, ConvertOptions::default(), "cnn.nir");
    let half = ConvertOptions {
        initial: InitialPotential::HalfThreshold,
        reset: ResetChoice::Zero,
        ..ConvertOptions::default()
    };
    assert_round_trip(CNN, &[2, 14, 14], 1.0, half, "cnn_half.nir");
}

#[test]
fn the_export_records_somnets_settings_and_warns_what_nir_cannot_say() {
    let ann = network("mlp:16-8-10", &[16], 1.0);
    let scales = vec![vec![2.5], vec![1.25]];
    let options = ConvertOptions {
        initial: InitialPotential::HalfThreshold,
        reset: ResetChoice::Zero,
        refractory_steps: 2,
        ..ConvertOptions::default()
    };
    let export = to_nir(&ann, &options, &scales).unwrap();
    let path = scratch("meta.nir");
    somnet::io::nir::write(&path, &export.graph).unwrap();
    let g = somnet::io::nir::read(&path).unwrap();
    assert_eq!(g.metadata["reset"], Meta::Text("zero".into()));
    assert_eq!(g.metadata["initial"], Meta::Number(0.5));
    assert_eq!(g.metadata["dt"], Meta::Number(1e-3));
    assert_eq!(g.metadata["refractory_steps"], Meta::Number(2.0));
    let lambdas: Vec<&Meta> = g
        .metadata
        .iter()
        .filter(|(k, _)| k.starts_with("lambda_"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        lambdas,
        vec![&Meta::Numbers(vec![2.5]), &Meta::Numbers(vec![1.25])]
    );
    let o = SimOptions::for_graph(&g).unwrap();
    assert_eq!(
        (o.initial, o.reset),
        (0.5, somnet::simulate::ResetMode::Zero)
    );
    let text = export.warnings.join("\n");
    assert!(
        text.contains("θ/2") && text.contains("refractory"),
        "{text}"
    );
    assert!(
        !text.contains("subtraction"),
        "reset to zero is NIR's own: {text}"
    );
    // Every neuron parameter is an array of its layer's shape.
    for node in g.nodes.values() {
        if let Node::Neuron(n) = node {
            assert_eq!(n.v_threshold.as_ref().unwrap().shape(), n.r.shape());
        }
    }
    // A file that names a bad setting is refused by the entry's name.
    let mut bad = g.clone();
    bad.metadata
        .insert("reset".into(), Meta::Text("soft".into()));
    let e = SimOptions::for_graph(&bad).unwrap_err().to_string();
    assert!(
        e.contains("metadata 'reset'") && e.contains("zero or subtract"),
        "{e}"
    );
}

#[test]
fn what_nir_cannot_express_is_refused_by_name() {
    let cases = [
        (
            network("c4k3-relu-mp2-flat-d10-out", &[1, 8, 8], 1.0),
            ConvertOptions::default(),
            "max pooling",
        ),
        (
            network("mlp:16-8-10", &[16], 1.0),
            ConvertOptions {
                dale: true,
                ..ConvertOptions::default()
            },
            "Dale",
        ),
        (
            network("mlp:16-8-10", &[16], 1.0),
            ConvertOptions {
                neuron: NeuronChoice::Izhikevich,
                ..ConvertOptions::default()
            },
            "Izhikevich",
        ),
    ];
    for (ann, options, what) in cases {
        let e = to_nir(&ann, &options, &[]).unwrap_err().to_string();
        assert!(e.contains(what), "{what}: {e}");
    }
}

fn somnet() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
}

fn golden(name: &str) -> String {
    format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn export_nir_on_the_command_line_writes_what_simulate_runs_with_the_files_settings() {
    let nir = scratch("cli_lenet.nir");
    let out = somnet()
        .args(["export-nir", &golden("lenet.snn.h5"), nir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: reset by subtraction"), "{stderr}");
    // The same graph as the library writes, read back.
    let g = somnet::io::nir::read(&nir).unwrap();
    assert_eq!(g.metadata["reset"], Meta::Text("subtract".into()));
    // `simulate` without --from takes the file's own settings and says so.
    let x = ndarray::Array::from_elem(ndarray::IxDyn(&[3, 1, 28, 28]), 0.5f32);
    let input = scratch("cli_x.npy");
    somnet::io::npy::write_f32(&input, x.view()).unwrap();
    let dir = scratch("cli_sim");
    let out = somnet()
        .args(["simulate", "--nir", nir.to_str().unwrap(), "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(record["options"]["from"], "somnet", "{record}");
    assert_eq!(record["options"]["reset"], "subtract");

    // A trained network that was never converted, and a max-pooling one, are refused by name.
    for (model, says) in [
        ("mlp.h5", "not a converted one"),
        ("bncnn.snn.h5", "max pooling"),
    ] {
        let out = somnet()
            .args([
                "export-nir",
                &golden(model),
                scratch("x.nir").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{model}: {stderr}"
        );
    }
}

/// An engine network of every kind NIR can carry: a Poisson source, a LIF population with delta
/// input and constant currents, a CubaLIF-type population (one exponential port), delays and
/// recurrent inhibition, several delays in one projection.
fn engine_network() -> (somnet::network::Network, [somnet::network::PopulationId; 3]) {
    use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
    use somnet::neuron::{LifParams, NeuronModel, Port, Reset};
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed: 5,
        max_delay_ms: 2.0,
    })
    .unwrap();
    let lif = |tau: f32| {
        NeuronModel::Lif(LifParams {
            tau_mem_ms: tau,
            v_rest_mv: -65.0,
            v_th_mv: -50.0,
            reset: Reset::ToValue { v_reset_mv: -62.0 },
            t_ref_ms: 0.0,
        })
    };
    let src = net.add_poisson("in", 20, 300.0).unwrap();
    let a = net
        .add_population("a", 30, lif(10.0), vec![Port::Delta])
        .unwrap();
    let b = net
        .add_population(
            "b cuba",
            10,
            lif(20.0),
            vec![Port::Exponential { tau_ms: 5.0 }],
        )
        .unwrap();
    let currents: Vec<f32> = (0..30).map(|i| 10.0 + i as f32 * 0.2).collect();
    net.set_constant_currents(a, &currents).unwrap();
    let conn = |c: Connector, w: Weights, d: Delay| Connection::new(c, w).delay(d);
    let uniform = |low, high| Weights::Uniform { low, high };
    net.connect(
        src,
        a,
        conn(
            Connector::FixedProbability(0.3),
            uniform(1.0, 4.0),
            Delay::Steps(0),
        ),
    )
    .unwrap();
    // Input-side delays: the NIR input of that many steps ago.
    net.connect(
        src,
        b,
        conn(
            Connector::FixedProbability(0.2),
            uniform(2.0, 6.0),
            Delay::Steps(4),
        ),
    )
    .unwrap();
    net.connect(
        a,
        b,
        conn(
            Connector::FixedProbability(0.5),
            uniform(5.0, 15.0),
            Delay::Steps(7),
        ),
    )
    .unwrap();
    net.connect(
        b,
        a,
        conn(
            Connector::AllToAll,
            uniform(-3.0, -1.0),
            Delay::UniformMs {
                low_ms: 0.1,
                high_ms: 0.5,
            },
        ),
    )
    .unwrap();
    (net, [src, a, b])
}

#[test]
fn an_engine_network_round_trips_through_nir_with_identical_spikes() {
    let steps = 3000;
    let (mut net, [src, a, b]) = engine_network();
    let export = somnet::simulate::network_to_nir(&net, b).unwrap();
    let mut input = Array3::zeros((1, steps, 20));
    let mut ours = Array3::zeros((1, steps, 10));
    let mut hidden = 0;
    for t in 0..steps {
        net.step();
        for &i in net.population(src).last_spikes() {
            input[[0, t, i as usize]] = 1.0;
        }
        for &j in net.population(b).last_spikes() {
            ours[[0, t, j as usize]] = 1.0;
        }
        hidden += net.population(a).last_spikes().len();
    }
    assert!(
        hidden > 100 && ours.sum() > 20.0,
        "{hidden} hidden, {} output spikes",
        ours.sum()
    );
    let path = scratch("engine.nir");
    somnet::io::nir::write(&path, &export.graph).unwrap();
    let graph = somnet::io::nir::read(&path).unwrap();
    let kinds: Vec<&str> = graph.nodes.values().map(|n| n.kind()).collect();
    for k in ["LIF", "CubaLIF", "Linear", "Delay", "Affine"] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    let options = SimOptions::for_graph(&graph).unwrap();
    assert_eq!((options.dt, options.from), (1e-4, Framework::Somnet));
    let sim = Simulation::new(&graph, &options).unwrap();
    let theirs = sim
        .run(input.view(), &|_| std::ops::ControlFlow::Continue(()))
        .unwrap()
        .output;
    let differ = theirs.iter().zip(&ours).filter(|(x, y)| x != y).count();
    assert_eq!(differ, 0, "{differ} of {} output spikes differ", ours.sum());
}

#[test]
fn engine_networks_nir_cannot_carry_are_refused_by_name() {
    use somnet::network::{Network, NetworkConfig};
    use somnet::neuron::{IzhikevichParams, LifParams, NeuronModel, Port};
    let (net, [src, _, _]) = engine_network();
    let e = somnet::simulate::network_to_nir(&net, somnet::network::PopulationId(9)).unwrap_err();
    assert!(e.to_string().contains("output population"), "{e}");
    // The source is the input: a graph whose output is the input is fine; an Izhikevich layer
    // or two exponential ports are not.
    assert!(somnet::simulate::network_to_nir(&net, src).is_ok());
    let mut net = Network::new(NetworkConfig::default()).unwrap();
    net.add_population(
        "izh",
        2,
        NeuronModel::Izhikevich(IzhikevichParams::new(0.02, 0.2, -65.0, 8.0)),
        vec![Port::Delta],
    )
    .unwrap();
    let e = somnet::simulate::network_to_nir(&net, somnet::network::PopulationId(0)).unwrap_err();
    assert!(e.to_string().contains("Izhikevich"), "{e}");
    let mut net = Network::new(NetworkConfig::default()).unwrap();
    let ports = vec![
        Port::Exponential { tau_ms: 5.0 },
        Port::Exponential { tau_ms: 10.0 },
    ];
    net.add_population("two", 2, NeuronModel::Lif(LifParams::default()), ports)
        .unwrap();
    let e = somnet::simulate::network_to_nir(&net, somnet::network::PopulationId(0)).unwrap_err();
    assert!(e.to_string().contains("2 exponential port"), "{e}");
}

#[test]
fn sinabs_runs_somnets_export_with_somnets_spikes() {
    // tests/nir/frameworks/make.py: Sinabs' NIR importer loaded somnet_lenet.nir (somnet's export
    // of its golden LeNet) and ran it. The export made now is that file, and somnet runs it (with
    // the file's own settings, and with the Sinabs preset) to Sinabs' spikes exactly.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nir/frameworks");
    let stored = somnet::io::nir::read(&dir.join("somnet_lenet.nir")).unwrap();
    let file = somnet::io::schema::load(std::path::Path::new(&golden("lenet.snn.h5"))).unwrap();
    let path = std::path::Path::new(&golden("lenet.snn.h5")).to_path_buf();
    let c = somnet::convert::pipeline::Converted::from_file(&path, &file)
        .unwrap()
        .unwrap();
    let fresh = to_nir(&c.ann, &c.record.options, &c.record.layer_scales)
        .unwrap()
        .graph;
    assert_eq!(fresh.nodes, stored.nodes);
    assert_eq!(fresh.edges, stored.edges);
    let x = somnet::io::npy::read_f32(&dir.join("sinabs_from_somnet_input.npy")).unwrap();
    let want = somnet::io::npy::read_f32(&dir.join("sinabs_from_somnet_output.npy")).unwrap();
    assert!(want.sum() > 50.0);
    for options in [
        SimOptions::for_graph(&stored).unwrap(),
        Framework::Sinabs.options(),
    ] {
        let sim = Simulation::new(&stored, &options).unwrap();
        let x = somnet::simulate::batch_input(&x, sim.input_shape()).unwrap();
        let y = sim
            .run(x.view(), &|_| std::ops::ControlFlow::Continue(()))
            .unwrap()
            .output;
        assert_eq!(y.into_dyn(), want, "{:?}", options.from);
    }
}
