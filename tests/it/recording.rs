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
    let path = crate::common::scratch("rec.h5");
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
    let path = crate::common::scratch("rec.npz");
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

#[test]
fn the_reader_gives_back_the_monitors_from_either_format() {
    use somnet::io::recording::RecordingReader;
    let (spikes, steps, values) = in_memory();
    for ext in ["h5", "npz"] {
        let path = crate::common::scratch(&format!("rec-read.{ext}"));
        let (mut net, _, _) = network();
        let mut rec = Recording::create(&path, &net).unwrap();
        rec.run(&mut net, STEPS, |_| ControlFlow::Continue(()))
            .unwrap();
        rec.finish(&net).unwrap();
        let mut r = RecordingReader::open(&path).unwrap();
        let infos = r.spikes();
        let names: Vec<(String, String, u64)> = infos
            .iter()
            .map(|s| (s.population.clone(), s.observable.clone(), s.n_neurons))
            .collect();
        let want = [
            ("input", "spikes", 50),
            ("lif", "spikes", 20),
            ("lif", "spikes_2", 20),
        ];
        assert_eq!(
            names,
            want.map(|(p, o, n)| (p.to_string(), o.to_string(), n)),
            "{ext}"
        );
        for (k, info) in infos.iter().enumerate() {
            assert_eq!(info.events, spikes[k].len() as u64);
            assert_eq!(info.t_max_s, STEPS as f64 * 0.5e-3);
            let mut got = Vec::new();
            r.spike_chunks(k, |idx, time| {
                got.extend(idx.iter().zip(time).map(|(&i, &t)| (t, i)));
                Ok(())
            })
            .unwrap();
            let expected: Vec<(f64, i64)> = spikes[k]
                .iter()
                .map(|&(s, i)| (s as f64 * 0.5e-3, i as i64))
                .collect();
            assert_eq!(got, expected, "{ext}: observable {k}");
        }
        let traces = r.traces();
        assert_eq!(traces.len(), 1);
        let t = &traces[0];
        assert_eq!(
            (t.population.as_str(), t.observable.as_str(), t.dt_s),
            ("lif", "v", 1.5e-3)
        );
        assert_eq!(
            (t.neurons.clone(), t.samples),
            (vec![0, 5, 19], steps.len() as u64)
        );
        let mut got = Vec::new();
        r.trace_chunks(0, |rows| {
            got.extend_from_slice(rows);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, values, "{ext}");
        std::fs::remove_file(&path).ok();
    }
}

#[test]
fn figures_bin_the_spikes_as_counted_by_hand() {
    use somnet::io::recording::figures::{write_figures, FigureOptions};
    // Four neurons fire at known times (dt 1 ms, 100 ms): 10 ms bins hold 1, 2, 1, 0, …, 0, 1
    // spikes, i.e. 25, 50, 25, 0, …, 0, 25 Hz over 4 neurons; the mean is 5 / (4 · 0.1 s).
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 1,
        ..Default::default()
    })
    .unwrap();
    let times = vec![vec![5.0, 15.0, 25.0], vec![15.0], vec![], vec![95.0]];
    let src = net.add_spike_source("src", &times).unwrap();
    let lif = net
        .add_population(
            "lif",
            2,
            NeuronModel::Lif(LifParams::default()),
            vec![Port::Delta],
        )
        .unwrap();
    net.connect(
        src,
        lif,
        Connection::new(Connector::AllToAll, Weights::Constant(3.0)).delay(Delay::Steps(1)),
    )
    .unwrap();
    net.monitor_spikes(src, None).unwrap();
    net.monitor_state(lif, StateVar::V, vec![0, 1], 1).unwrap();
    let dir = crate::common::scratch("figs");
    let path = dir.with_extension("h5");
    let mut rec = Recording::create(&path, &net).unwrap();
    rec.run(&mut net, 100, |_| ControlFlow::Continue(()))
        .unwrap();
    rec.finish(&net).unwrap();
    let figs = write_figures(&path, &dir, &FigureOptions::default()).unwrap();
    assert_eq!(figs.spikes.len(), 1);
    let s = &figs.spikes[0];
    assert_eq!((s.spikes, s.dots), (5, 5));
    assert!((s.mean_rate_hz - 12.5).abs() < 1e-9, "{}", s.mean_rate_hz);
    let csv = std::fs::read_to_string(dir.join("rates.csv")).unwrap();
    let rates: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let mut want = vec![0.0; 10];
    (want[0], want[1], want[2], want[9]) = (25.0, 50.0, 25.0, 25.0);
    assert_eq!(rates.len(), 10, "{csv}");
    for (g, w) in rates.iter().zip(&want) {
        assert!((g - w).abs() < 1e-9, "{csv}");
    }
    for png in [&s.raster, &s.rate, &figs.traces[0].image] {
        let img = image::open(png).unwrap();
        assert!(
            img.width() >= 1000 && img.height() >= 600,
            "{}",
            png.display()
        );
    }
    assert_eq!(figs.traces[0].neurons, vec![0, 1]);
    assert!(dir.join("figures.json").is_file());
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&path).ok();
}

/// A `.npy` entry: header for `descr` and `shape` (text), then `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut h = dict.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// Writes an `.npz` of the given entries (stored).
fn write_npz(path: &std::path::Path, entries: &[(&str, Vec<u8>)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn bad_recordings_are_refused_with_the_array_and_what_was_found() {
    use somnet::io::recording::RecordingReader;
    let le = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let lef = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let dir = crate::common::scratch("bad-files");
    std::fs::create_dir_all(&dir).unwrap();
    // 1. A header whose shape does not match the entry's bytes.
    let path = dir.join("bad-shape.npz");
    write_npz(
        &path,
        &[("p/spikes/idx.npy", npy("<i8", "(10,)", &le(&[1])))],
    );
    let err = RecordingReader::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("p/spikes/idx.npy") && err.contains("80 bytes") && err.contains("holds 8"),
        "{err}"
    );
    // 2. A spike of a neuron outside its population.
    let path2 = dir.join("bad-idx.npz");
    write_npz(
        &path2,
        &[
            ("p/spikes/idx.npy", npy("<i8", "(2,)", &le(&[0, 7]))),
            ("p/spikes/time.npy", npy("<f8", "(2,)", &lef(&[0.0, 1e-3]))),
            ("p/spikes/n_neurons.npy", npy("<i8", "()", &le(&[5]))),
            ("p/spikes/t_max.npy", npy("<f8", "()", &lef(&[0.01]))),
        ],
    );
    let mut r = RecordingReader::open(&path2).unwrap();
    let err = r.spike_chunks(0, |_, _| Ok(())).err().unwrap().to_string();
    assert!(err.contains("neuron 7") && err.contains("0..5"), "{err}");
    // 3. An array of the wrong type.
    let path3 = dir.join("bad-type.npz");
    write_npz(
        &path3,
        &[
            (
                "p/spikes/idx.npy",
                npy("<f4", "(1,)", &1.0f32.to_le_bytes()),
            ),
            ("p/spikes/time.npy", npy("<f8", "(1,)", &lef(&[0.0]))),
        ],
    );
    let err = RecordingReader::open(&path3).err().unwrap().to_string();
    assert!(
        err.contains("p/spikes/idx") && err.contains("<f4") && err.contains("expected <i8"),
        "{err}"
    );
    // 4. HDF5: a spike time dataset of the wrong type.
    let path4 = dir.join("bad-type.h5");
    {
        let f = hdf5::File::create(&path4).unwrap();
        let ty: hdf5::types::VarLenUnicode = "NIRGraphData".parse().unwrap();
        f.new_attr::<hdf5::types::VarLenUnicode>()
            .create("__type__")
            .unwrap()
            .write_scalar(&ty)
            .unwrap();
        let mut g = f.create_group("nodes").unwrap();
        for name in ["p", "observables", "spikes"] {
            g = g.create_group(name).unwrap();
        }
        let ty: hdf5::types::VarLenUnicode = "EventData".parse().unwrap();
        g.new_attr::<hdf5::types::VarLenUnicode>()
            .create("__type__")
            .unwrap()
            .write_scalar(&ty)
            .unwrap();
        for (name, v) in [("n_neurons", 3.0f64), ("t_max", 0.1)] {
            g.new_attr::<f64>()
                .create(name)
                .unwrap()
                .write_scalar(&v)
                .unwrap();
        }
        g.new_dataset_builder()
            .with_data(&ndarray::arr2(&[[0i64, 1]]))
            .create("idx")
            .unwrap();
        g.new_dataset_builder()
            .with_data(&ndarray::arr2(&[[0.0f32, 1.0]]))
            .create("time")
            .unwrap();
    }
    let err = RecordingReader::open(&path4).err().unwrap().to_string();
    assert!(
        err.contains("bad-type") && err.contains("'time'") && err.contains("<f8"),
        "{err}"
    );
    for p in [path, path2, path3, path4] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn a_recording_without_monitors_reads_back_empty() {
    use somnet::io::recording::RecordingReader;
    for ext in ["h5", "npz"] {
        let path = crate::common::scratch(&format!("rec-empty.{ext}"));
        let mut net = Network::new(NetworkConfig::default()).unwrap();
        net.add_poisson("quiet", 5, 10.0).unwrap();
        let mut rec = Recording::create(&path, &net).unwrap();
        rec.run(&mut net, 20, |_| ControlFlow::Continue(()))
            .unwrap();
        rec.finish(&net).unwrap();
        let r = RecordingReader::open(&path).unwrap();
        assert!(r.spikes().is_empty() && r.traces().is_empty(), "{ext}");
        std::fs::remove_file(&path).unwrap();
    }
}
