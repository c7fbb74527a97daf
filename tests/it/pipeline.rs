//! The conversion pipeline as library calls (issue 14): the one text form of the knobs, sweep
//! grids and their Pareto front, a converted file's typed record, and convert → evaluate against
//! the stage-by-stage calls it replaces.

use std::path::Path;

use somnet::convert::options::{
    ConvertOptions, InitialPotential, InputCoding, NeuronChoice, NormScope, Readout, ResetChoice,
};
use somnet::convert::record::{ConversionRecord, EnergyTotals, Latency, RunSummary};
use somnet::study::sweep::{pareto_front, Grid};

#[test]
fn every_knob_has_one_text_form() {
    let mut o = ConvertOptions::default();
    for (k, v) in [
        ("input", "poisson"),
        ("neuron", "lif:20"),
        ("tau-mem", "30"),
        ("reset", "zero"),
        ("refractory", "2"),
        ("initial", "half"),
        ("dale", "on"),
        ("readout", "membrane"),
        ("early-exit", "5"),
        ("percentile", "99.5"),
        ("norm", "channel"),
        ("avgpool", "fold"),
        ("seed", "7"),
    ] {
        o.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    assert_eq!(
        o,
        ConvertOptions {
            input: InputCoding::Poisson,
            neuron: NeuronChoice::Lif { tau_mem_ms: 30.0 },
            reset: ResetChoice::Zero,
            refractory_steps: 2,
            initial: InitialPotential::HalfThreshold,
            dale: true,
            readout: Readout::Membrane,
            early_exit: Some(5),
            percentile: 99.5,
            normalization: NormScope::Channel,
            avg_pool: somnet::convert::options::AvgPoolChoice::Fold,
            seed: 7,
            ..ConvertOptions::default()
        }
    );
    // Izhikevich brings its own reset; a later reset setting overrides it.
    let mut o = ConvertOptions::default();
    o.set("neuron", "izhikevich").unwrap();
    assert_eq!(o.reset, ResetChoice::Zero);
    o.set("early-exit", "none").unwrap();
    assert_eq!(o.early_exit, None);
}

#[test]
fn a_bad_knob_names_the_key_the_value_and_what_is_expected() {
    let mut o = ConvertOptions::default();
    for (k, v, expected) in [
        ("reset", "sideways", "subtract or zero"),
        ("refractory", "-1", "a number of steps"),
        ("percentile", "nan", "a percentile"),
        ("neuron", "lif:x", "lif:TAU"),
        ("tau-mem", "20", "a LIF neuron"),
        ("early-exit", "soon", "none or a number"),
    ] {
        let e = o.set(k, v).unwrap_err().to_string();
        assert!(
            e.contains(k) && e.contains(v) && e.contains(expected),
            "{k}={v}: {e}"
        );
    }
    let e = o.set("colour", "red").unwrap_err().to_string();
    assert!(e.contains("colour") && e.contains("readout"), "{e}");
    assert_eq!(
        o,
        ConvertOptions::default(),
        "failed settings change nothing"
    );
}

#[test]
fn a_grid_combines_axes_in_order_and_names_a_contradictory_point() {
    let g = Grid::parse(" input=analog,poisson ; neuron=if,lif:10;").unwrap();
    assert_eq!(g.axes.len(), 2);
    let p = g.points(&ConvertOptions::default()).unwrap();
    let settings: Vec<&str> = p.iter().map(|p| p.settings.as_str()).collect();
    assert_eq!(
        settings,
        [
            "input=analog neuron=if",
            "input=analog neuron=lif:10",
            "input=poisson neuron=if",
            "input=poisson neuron=lif:10"
        ]
    );
    assert_eq!(p[3].options.input, InputCoding::Poisson);
    assert_eq!(p[3].options.neuron, NeuronChoice::Lif { tau_mem_ms: 10.0 });
    assert!(Grid::parse("input")
        .unwrap_err()
        .to_string()
        .contains("key=v1,v2"));
    let e = Grid::parse("reset=zero,subtract;refractory=2")
        .unwrap()
        .points(&ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("grid point 'reset=subtract refractory=2'"),
        "the first contradictory point is named: {e}"
    );
}

fn row(accuracy: f64, energy: f64, latency: Option<usize>) -> RunSummary {
    let lat = Latency {
        pp1: latency,
        pp05: latency,
        pp01: latency,
    };
    RunSummary {
        settings: format!("{accuracy}/{energy}/{latency:?}"),
        options: ConvertOptions::default(),
        snn_accuracy: accuracy,
        snn_accuracy_per_step: vec![accuracy],
        latency_steps: lat,
        settled_latency_steps: lat,
        mean_steps: 1.0,
        synaptic_ops_per_image: energy,
        spikes_per_neuron_per_step: 0.1,
        energy_pj: EnergyTotals {
            snn: energy,
            ann: 1.0,
            ratio: energy,
        },
        images_per_second: 1.0,
        energy_at_latency: Default::default(),
    }
}

#[test]
fn the_pareto_front_keeps_exactly_the_undominated_rows() {
    let rows = [
        row(0.99, 10.0, Some(20)), // most accurate
        row(0.98, 5.0, Some(30)),  // cheapest
        row(0.98, 6.0, Some(10)),  // fastest
        row(0.97, 6.0, Some(30)),  // worse than the cheapest in everything
        row(0.99, 10.0, None),     // as the first but never reaches the ANN
        row(0.98, 6.0, Some(10)),  // a tie with the fastest: neither dominates
    ];
    assert_eq!(pareto_front(&rows), [true, true, true, false, false, true]);
}

#[test]
fn the_pareto_front_on_energy_at_latency_weighs_each_row_where_it_reaches_the_ann() {
    use somnet::convert::record::{CostAtLatency, EnergyAtLatency};
    use somnet::study::sweep::{pareto_front_by, EnergyBasis};
    // (accuracy curve, energy at T, step and energy within 1 pp): the first spends most over all
    // T steps but least by the time it is within 1 pp of the ANN.
    let with = |curve: Vec<f64>, energy: f64, at: Option<(usize, f64)>| {
        let mut r = row(*curve.last().unwrap(), energy, at.map(|a| a.0));
        r.snn_accuracy_per_step = curve;
        r.energy_at_latency = EnergyAtLatency {
            pp1: at.map(|(steps, snn_pj)| CostAtLatency {
                steps,
                synaptic_ops_per_image: 0.0,
                snn_pj,
                ratio: snn_pj,
            }),
            ..Default::default()
        };
        r
    };
    let rows = [
        with(vec![0.5, 0.97, 0.98], 30.0, Some((2, 4.0))),
        with(vec![0.4, 0.6, 0.97], 10.0, Some((3, 10.0))),
        with(vec![0.2, 0.3, 0.5], 5.0, None),
    ];
    assert_eq!(pareto_front(&rows), [true, true, true]);
    let basis = EnergyBasis::parse("1pp").unwrap();
    assert_eq!(
        basis.point(&rows[0]),
        Some((0.97, 4.0)),
        "accuracy at the step"
    );
    assert_eq!(
        pareto_front_by(&rows, basis),
        [Some(true), Some(false), None],
        "the second is dominated where both reach the ANN; the third never does"
    );
    assert!(EnergyBasis::parse("2pp").is_err());
}

#[test]
fn a_converted_files_record_is_read_typed_with_its_faults_named() {
    let path = Path::new("snn.h5");
    let record = serde_json::json!({ "conversion": {
        "options": ConvertOptions::default(),
        "layer_scales": [1.5, 2.0],
        "calibration_images": 600,
    }});
    let r = ConversionRecord::from_provenance(path, &record)
        .unwrap()
        .unwrap();
    assert_eq!(
        r.layer_scales,
        vec![vec![1.5], vec![2.0]],
        "older flat λ list"
    );
    assert_eq!((r.threshold, r.batchnorm_folded), (1.0, true));
    assert_eq!(r.scales_summary(), "[1.500, 2.000]");
    let trained = serde_json::json!({ "arch": "lenet" });
    assert!(ConversionRecord::from_provenance(path, &trained)
        .unwrap()
        .is_none());
    let mut broken = record.clone();
    broken["conversion"]
        .as_object_mut()
        .unwrap()
        .remove("layer_scales");
    let e = ConversionRecord::from_provenance(path, &broken)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("snn.h5") && e.contains("conversion.layer_scales is missing"),
        "{e}"
    );
    broken["conversion"]["layer_scales"] = serde_json::json!("many");
    let e = ConversionRecord::from_provenance(path, &broken)
        .unwrap_err()
        .to_string();
    assert!(e.contains("snn.h5") && e.contains("conversion"), "{e}");
}

#[test]
fn the_pipeline_gives_the_numbers_of_the_stages_it_calls() {
    use somnet::convert::evaluate::evaluate_with;
    use somnet::convert::pipeline::{calibration_set, convert, evaluate, normalised};
    use somnet::data::{default_dir, load_named, Split};
    let train = load_named("mnist", &default_dir(), Split::Train).unwrap();
    let test = load_named("mnist", &default_dir(), Split::Test)
        .unwrap()
        .head(40);
    let ann = somnet::io::schema::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mlp.h5"),
    )
    .unwrap()
    .ann;
    let calibration = calibration_set(&train, 50);
    assert_eq!(calibration.len(), 50);
    assert_eq!(calibration.image(1), train.image(10), "every 10th image");
    let options = ConvertOptions {
        initial: InitialPotential::HalfThreshold,
        ..ConvertOptions::default()
    };
    let c = convert(&ann, &calibration, &options).unwrap();
    let (norm, scales) = normalised(&ann, &calibration, 99.9, NormScope::Layer).unwrap();
    assert_eq!(c.record.layer_scales, scales);
    let e = evaluate(&c, &test, 12, &options, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let stages = evaluate_with(&norm, &test, 12, &options, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(e.snn_accuracy_per_step, stages.snn_accuracy_per_step);
    assert_eq!(e.synaptic_ops_per_image, stages.synaptic_ops_per_image);
    assert_eq!(e.layers, stages.layers);
    assert_eq!(e.ann_accuracy, ann.accuracy(&test).unwrap());
    assert_eq!(e.macs_per_image, ann.macs());
    assert_eq!(e.latency_steps.pp01, stages.latency(e.ann_accuracy, 0.1));
    assert_eq!(e.calibration_images, 50);
    // Energy: analog input charges the first layer its MACs, the rest 0.9 pJ per operation.
    let first = &e.energy_pj.layers[0];
    assert_eq!(first.snn_pj, first.macs as f64 * 4.6);
    assert_eq!(
        e.energy_pj.layers[1].snn_pj,
        stages.layers[1].synaptic_ops_per_image * 0.9
    );
}
