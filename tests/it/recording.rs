//! Recordings streamed to files read back equal to the in-memory monitors of the same run, for
//! both formats, across chunk boundaries; the monitors stay bounded while recording.

use std::ops::ControlFlow;

use hdf5_metno as hdf5;
use somnet::io::recording::{Recording, CHUNK_STEPS};
use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, SpikeMonitorId, StateMonitorId, StateVar,
    Weights,
};
use somnet::neuron::{LifParams, NeuronModel, Port};

/// A Poisson source driving 20 LIF neurons, with spike monitors (two on the LIF population) and
/// a membrane monitor every 3 steps.
fn network() -> (Network, Vec<SpikeMonitorId>, StateMonitorId) {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.5,
        seed: 4,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_poisson("input", 50, 40.0).unwrap();
    let lif = net
        .add_population(
            "lif",
            20,
            NeuronModel::Lif(LifParams::default()),
            vec![Port::Exponential { tau_ms: 5.0 }],
        )
        .unwrap();
    net.connect(
        src,
        lif,
        Connection::new(Connector::FixedProbability(0.5), Weights::Constant(4.0))
            .delay(Delay::Steps(1)),
    )
    .unwrap();
    let spikes = vec![
        net.monitor_spikes(src, None).unwrap(),
        net.monitor_spikes(lif, None).unwrap(),
        net.monitor_spikes(lif, Some(vec![3, 7])).unwrap(),
    ];
    let v = net
        .monitor_state(lif, StateVar::V, vec![0, 5, 19], 3)
        .unwrap();
    (net, spikes, v)
}

const STEPS: u64 = 2 * CHUNK_STEPS + 345;

/// The in-memory monitors after the same run: spikes per monitor, (steps, values) of the trace.
#[allow(clippy::type_complexity)]
fn in_memory() -> (Vec<Vec<(u64, u32)>>, Vec<u64>, Vec<f32>) {
    let (mut net, ids, v) = network();
    net.run(STEPS).unwrap();
    let spikes: Vec<_> = ids
        .iter()
        .map(|&m| net.spike_monitor(m).events.clone())
        .collect();
    let m = net.state_monitor(v);
    (spikes, m.steps.clone(), m.values.clone())
}

#[test]
fn hdf5_recording_reads_back_as_the_monitors_in_nirs_data_layout() {
    let (spikes, steps, values) = in_memory();
    assert!(spikes[1].len() > 100, "{} LIF spikes", spikes[1].len());
    let path = std::env::temp_dir().join(format!("somnet-rec-{}.h5", std::process::id()));
    let (mut net, ids, _) = network();
    let mut rec = Recording::create(&path, &net).unwrap();
    let done = rec
        .run(&mut net, STEPS, |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(done, STEPS);
    // Written as the run went: nothing is left in the monitors.
    for m in ids {
        assert!(net.spike_monitor(m).events.is_empty());
    }
    rec.finish(&net).unwrap();
    let f = hdf5::File::open(&path).unwrap();
    let ty = |loc: &hdf5::Location| -> String {
        loc.attr("__type__")
            .unwrap()
            .read_scalar::<hdf5::types::VarLenUnicode>()
            .map(|s| s.to_string())
            .or_else(|_| {
                loc.attr("__type__")
                    .unwrap()
                    .read_scalar::<hdf5::types::VarLenAscii>()
                    .map(|s| s.to_string())
            })
            .unwrap()
    };
    assert_eq!(ty(&f), "NIRGraphData");
    for (k, (node, obs)) in [("input", "spikes"), ("lif", "spikes"), ("lif", "spikes_2")]
        .iter()
        .enumerate()
    {
        let g = f.group(&format!("nodes/{node}/observables/{obs}")).unwrap();
        assert_eq!(ty(&g), "EventData");
        let idx = g.dataset("idx").unwrap().read_2d::<i64>().unwrap();
        let time = g.dataset("time").unwrap().read_2d::<f64>().unwrap();
        assert_eq!(idx.shape(), &[1, spikes[k].len()], "{node}/{obs}");
        for (e, &(step, neuron)) in spikes[k].iter().enumerate() {
            assert_eq!(idx[[0, e]], neuron as i64);
            assert_eq!(time[[0, e]], step as f64 * 0.5e-3);
        }
        let t_max: f64 = g.attr("t_max").unwrap().read_scalar().unwrap();
        assert_eq!(t_max, STEPS as f64 * 0.5e-3);
    }
    let g = f.group("nodes/lif/observables/v").unwrap();
    assert_eq!(ty(&g), "TimeGriddedData");
    let dt: f64 = g.attr("dt").unwrap().read_scalar().unwrap();
    assert_eq!(dt, 3.0 * 0.5e-3);
    let data = g.dataset("data").unwrap().read_dyn::<f32>().unwrap();
    assert_eq!(data.shape(), &[1, steps.len(), 3]);
    assert_eq!(data.iter().copied().collect::<Vec<_>>(), values);
    let neurons = g.dataset("neurons").unwrap().read_1d::<i64>().unwrap();
    assert_eq!(neurons.to_vec(), vec![0, 5, 19]);
    std::fs::remove_file(&path).ok();
}

/// The arrays of an `.npz` archive as (key, descr, shape, little-endian bytes).
fn read_npz(path: &std::path::Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let key = f.name().unwrap().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        let descr = header.split('\'').nth(3).unwrap().to_string();
        let shape_text = header.split("'shape': (").nth(1).unwrap();
        let shape: Vec<usize> = shape_text[..shape_text.find(')').unwrap()]
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().unwrap())
            .collect();
        out.push((key, descr, shape, bytes[10 + len..].to_vec()));
    }
    out
}

#[test]
fn npz_recording_reads_back_as_the_monitors() {
    let (spikes, steps, values) = in_memory();
    let path = std::env::temp_dir().join(format!("somnet-rec-{}.npz", std::process::id()));
    let (mut net, _, _) = network();
    let mut rec = Recording::create(&path, &net).unwrap();
    rec.run(&mut net, STEPS, |_| ControlFlow::Continue(()))
        .unwrap();
    rec.finish(&net).unwrap();
    assert!(
        !path.with_extension("npz.parts").exists(),
        "part files removed"
    );
    let arrays = read_npz(&path);
    let get = |key: &str| {
        arrays
            .iter()
            .find(|a| a.0 == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    let i64s = |b: &[u8]| -> Vec<i64> {
        b.chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let f64s = |b: &[u8]| -> Vec<f64> {
        b.chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    for (k, base) in ["input/spikes", "lif/spikes", "lif/spikes_2"]
        .iter()
        .enumerate()
    {
        let idx = get(&format!("{base}/idx"));
        assert_eq!(
            (idx.1.as_str(), idx.2.clone()),
            ("<i8", vec![spikes[k].len()])
        );
        let time = f64s(&get(&format!("{base}/time")).3);
        let idx = i64s(&idx.3);
        for (e, &(step, neuron)) in spikes[k].iter().enumerate() {
            assert_eq!((idx[e], time[e]), (neuron as i64, step as f64 * 0.5e-3));
        }
        assert_eq!(
            f64s(&get(&format!("{base}/t_max")).3),
            vec![STEPS as f64 * 0.5e-3]
        );
    }
    let data = get("lif/v/data");
    assert_eq!(
        (data.1.as_str(), data.2.clone()),
        ("<f4", vec![steps.len(), 3])
    );
    let got: Vec<f32> = data
        .3
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, values);
    assert_eq!(i64s(&get("lif/v/neurons").3), vec![0, 5, 19]);
    assert_eq!(f64s(&get("lif/v/dt").3), vec![1.5e-3]);
    std::fs::remove_file(&path).ok();
}

#[test]
fn an_unknown_extension_is_refused_by_name() {
    let (net, _, _) = network();
    let err = Recording::create(std::path::Path::new("/tmp/x.csv"), &net)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("x.csv") && err.contains(".npz"), "{err}");
}
