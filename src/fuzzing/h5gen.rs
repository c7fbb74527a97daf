//! Structure-aware inputs for the HDF5 readers: valid HDF5 containers laid out as a somnet model
//! file or a Keras `.h5` file, with the fuzzer's bytes choosing where to deviate — a dataset's
//! shape, its dtype (float64, int32, uint8, strings) or storage (chunked and compressed, declared
//! larger than written), an attribute's type (the four HDF5 string types, numbers, arrays) or
//! value, the JSON of `provenance` and `model_config`, missing and extra members. Byte-level
//! mutation of whole files mostly breaks the HDF5 superblock and never reaches somnet's own
//! checks; these inputs do.

use std::path::Path;

use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;
use serde_json::{json, Value};

/// Decisions drawn from the fuzzer's bytes (zeros once they run out: the unmutated file).
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    /// Choices from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data, pos: 0 }
    }

    /// The next byte (0 when exhausted).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A number below `n` (n ≥ 1).
    pub fn below(&mut self, n: usize) -> usize {
        let v = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        v % n.max(1)
    }

    /// True with probability about 1/`n` (never for a zero byte: the default is no mutation).
    pub fn one_in(&mut self, n: u8) -> bool {
        let b = self.byte();
        b != 0 && b.is_multiple_of(n.max(1))
    }

    /// A size that is usually `valid`, sometimes 0, off by one, or very large.
    pub fn size(&mut self, valid: usize) -> usize {
        if !self.one_in(7) {
            return valid;
        }
        match self.below(6) {
            0 => 0,
            1 => valid + 1,
            2 => valid.saturating_sub(1),
            3 => 1 << (10 + self.below(30)),
            4 => u32::MAX as usize,
            _ => self.below(64),
        }
    }

    /// A float that is usually `valid`, sometimes NaN, ±inf, 0, negative or huge.
    pub fn number(&mut self, valid: f64) -> f64 {
        if !self.one_in(9) {
            return valid;
        }
        [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -1.0,
            0.5,
            1e300,
            2.0,
            1e9,
        ][self.below(9)]
    }
}

/// One attribute's value as the generator writes it.
enum Attr {
    Text(String),
    Numbers(Vec<f64>),
    Ints(Vec<i64>),
}

/// Writes the scalar attribute `name` of type `T`.
fn scalar_attr<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str, v: &T) -> hdf5::Result<()> {
    loc.new_attr::<T>().create(name)?.write_scalar(v)
}

/// Writes the one-dimensional attribute `name` holding `v`.
fn array_attr<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str, v: &[T]) -> hdf5::Result<()> {
    loc.new_attr_builder().with_data(v).create(name).map(|_| ())
}

/// Writes attribute `name` with `value`, its HDF5 type picked by `c` (mutating text into any of
/// the four string types or a number, numbers into strings or integers).
fn write_attr(loc: &hdf5::Location, name: &str, value: Attr, c: &mut Choices) -> hdf5::Result<()> {
    let value = if c.one_in(11) {
        match c.below(4) {
            0 => Attr::Text("garbage".into()),
            1 => Attr::Numbers(vec![]),
            2 => Attr::Ints(vec![1, 2, 3]),
            _ => Attr::Numbers(vec![f64::NAN]),
        }
    } else {
        value
    };
    match value {
        Attr::Text(s) => {
            let s = if c.one_in(13) {
                s[..s.len() / 2].to_string()
            } else {
                s
            };
            match c.below(6) {
                1 => {
                    let v = VarLenAscii::from_ascii(s.as_bytes())
                        .unwrap_or_else(|_| VarLenAscii::from_ascii("x").expect("ascii"));
                    scalar_attr::<VarLenAscii>(loc, name, &v)
                }
                2 => {
                    let v = FixedAscii::<64>::from_ascii(s.as_bytes())
                        .unwrap_or_else(|_| FixedAscii::<64>::from_ascii("x").expect("ascii"));
                    scalar_attr::<FixedAscii<64>>(loc, name, &v)
                }
                3 => {
                    let v: FixedUnicode<256> = s
                        .parse()
                        .or_else(|_| "x".parse())
                        .expect("a short string fits");
                    scalar_attr::<FixedUnicode<256>>(loc, name, &v)
                }
                4 => {
                    // A one-element array of strings where a scalar is expected.
                    let v: VarLenUnicode = s.parse().unwrap_or_default();
                    array_attr(loc, name, &[v])
                }
                _ => {
                    let v: VarLenUnicode = s.parse().unwrap_or_default();
                    scalar_attr::<VarLenUnicode>(loc, name, &v)
                }
            }
        }
        Attr::Numbers(v) => {
            let v: Vec<f64> = v.into_iter().map(|x| c.number(x)).collect();
            if c.one_in(5) {
                let ints: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                array_attr(loc, name, &ints)
            } else {
                array_attr(loc, name, &v)
            }
        }
        Attr::Ints(v) => {
            let v: Vec<i64> = v
                .into_iter()
                .map(|x| {
                    if c.one_in(9) {
                        [0, -1, i64::MAX, 1 << 40][c.below(4)]
                    } else {
                        x
                    }
                })
                .collect();
            array_attr(loc, name, &v)
        }
    }
}

/// Writes dataset `name` of `shape` (values from the choices), or a mutated one: another shape
/// or rank, another dtype, strings, or chunked and compressed storage declared far larger than
/// what is written.
fn write_dataset(
    group: &hdf5::Group,
    name: &str,
    shape: &[usize],
    c: &mut Choices,
) -> hdf5::Result<()> {
    let mut shape: Vec<usize> = shape.iter().map(|&d| c.size(d)).collect();
    if c.one_in(17) {
        if c.below(2) == 0 {
            shape.pop();
        } else {
            shape.push(2);
        }
    }
    let count: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    // Shapes whose non-zero dimensions overflow an array's strides cannot be held in memory:
    // they are declared only.
    let holdable = shape
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .is_some_and(|n| n <= isize::MAX as usize);
    if count > 1 << 16 || !holdable {
        // Declared, never written: a chunked dataset read back as fill values.
        let chunk: Vec<usize> = shape.iter().map(|&d| d.clamp(1, 16)).collect();
        return group
            .new_dataset::<f32>()
            .chunk(chunk)
            .deflate(1)
            .shape(shape)
            .create(name)
            .map(|_| ());
    }
    let values: Vec<f32> = (0..count)
        .map(|i| {
            let v = ((i * 37 % 11) as f32 + 1.0) / 10.0;
            if c.one_in(97) {
                [f32::NAN, f32::INFINITY, 1e38][c.below(3)]
            } else {
                v
            }
        })
        .collect();
    let dims = ndarray::IxDyn(&shape);
    let array = ndarray::ArrayD::from_shape_vec(dims, values).expect("count matches the shape");
    match c.below(8) {
        1 => group
            .new_dataset_builder()
            .with_data(&array.mapv(f64::from))
            .create(name)
            .map(|_| ()),
        2 => group
            .new_dataset_builder()
            .with_data(&array.mapv(|v| v as i32))
            .create(name)
            .map(|_| ()),
        3 => group
            .new_dataset_builder()
            .with_data(&array.mapv(|v| v as u8))
            .create(name)
            .map(|_| ()),
        4 => {
            let s: Vec<VarLenUnicode> = (0..count.min(8))
                .map(|_| "1.5".parse().unwrap_or_default())
                .collect();
            group
                .new_dataset_builder()
                .with_data(&s)
                .create(name)
                .map(|_| ())
        }
        5 if !shape.is_empty() => {
            let chunk: Vec<usize> = shape.iter().map(|&d| d.clamp(1, 4)).collect();
            let ds = group
                .new_dataset::<f32>()
                .chunk(chunk)
                .deflate(4)
                .shape(shape.clone())
                .create(name)?;
            ds.write(&array)
        }
        _ => group
            .new_dataset_builder()
            .with_data(&array)
            .create(name)
            .map(|_| ()),
    }
}

/// One layer of the template network (input [1, 8, 8]): kind, attributes, datasets.
struct Template {
    kind: &'static str,
    attrs: Vec<(&'static str, Attr)>,
    datasets: Vec<(&'static str, Vec<usize>)>,
}

fn template() -> Vec<Template> {
    let t = |kind, attrs, datasets| Template {
        kind,
        attrs,
        datasets,
    };
    vec![
        t(
            "conv2d",
            vec![
                ("stride", Attr::Ints(vec![1, 1])),
                ("padding", Attr::Text("same".into())),
            ],
            vec![("weights", vec![4, 1, 3, 3]), ("bias", vec![4])],
        ),
        t(
            "batchnorm",
            vec![
                ("eps", Attr::Numbers(vec![1e-3])),
                ("momentum", Attr::Numbers(vec![0.99])),
            ],
            vec![
                ("gamma", vec![4]),
                ("beta", vec![4]),
                ("moving_mean", vec![4]),
                ("moving_variance", vec![4]),
            ],
        ),
        t(
            "activation",
            vec![("function", Attr::Text("relu".into()))],
            vec![],
        ),
        t(
            "maxpool2d",
            vec![
                ("size", Attr::Ints(vec![2, 2])),
                ("stride", Attr::Ints(vec![2, 2])),
                ("padding", Attr::Text("valid".into())),
            ],
            vec![],
        ),
        t(
            "avgpool2d",
            vec![
                ("size", Attr::Ints(vec![2, 2])),
                ("stride", Attr::Ints(vec![1, 1])),
                ("padding", Attr::Text("valid".into())),
            ],
            vec![],
        ),
        t("flatten", vec![], vec![]),
        t("dropout", vec![("rate", Attr::Numbers(vec![0.25]))], vec![]),
        t(
            "dense",
            vec![],
            vec![("weights", vec![10, 36]), ("bias", vec![10])],
        ),
        t(
            "activation",
            vec![("function", Attr::Text("softmax".into()))],
            vec![],
        ),
    ]
}

/// A somnet model file (`converters/SCHEMA.md`) at `path`, mutated as `data` chooses.
pub fn somnet_file(path: &Path, data: &[u8]) -> hdf5::Result<()> {
    let c = &mut Choices::new(data);
    let file = hdf5::File::create(path)?;
    let kinds = [
        "dense",
        "conv2d",
        "avgpool2d",
        "maxpool2d",
        "flatten",
        "batchnorm",
        "activation",
        "dropout",
        "lstm",
    ];
    if !c.one_in(31) {
        write_attr(&file, "format", Attr::Text("somnet-model".into()), c)?;
    }
    write_attr(&file, "format_version", Attr::Ints(vec![1]), c)?;
    write_attr(
        &file,
        "somnet_version",
        Attr::Text(crate::VERSION.into()),
        c,
    )?;
    let input = vec![c.size(1) as i64, c.size(8) as i64, c.size(8) as i64];
    write_attr(&file, "input_shape", Attr::Ints(input), c)?;
    write_attr(
        &file,
        "dropout_mode",
        Attr::Text(["inverted", "scale-at-test", "never"][c.below(3)].into()),
        c,
    )?;
    let provenance = json!({
        "somnet_version": crate::VERSION,
        "record": {
            "conversion": {
                "options": {"input": "analog", "neuron": "if", "reset": "subtract"},
                "layer_scales": [[1.0, 2.0, 0.5, 1.0], [3.0]],
                "calibration": {"images": 100, "percentile": 99.9}
            }
        }
    });
    write_attr(
        &file,
        "provenance",
        Attr::Text(mutate_json(provenance, c).to_string()),
        c,
    )?;
    let layers = file.create_group("layers")?;
    let mut templates = template();
    if c.one_in(13) {
        let i = c.below(templates.len());
        templates.remove(i);
    }
    if c.one_in(13) {
        let i = c.below(templates.len());
        let j = c.below(templates.len());
        templates.swap(i, j);
    }
    for (i, l) in templates.into_iter().enumerate() {
        let key = if c.one_in(29) {
            format!("{:03}", i + 1)
        } else {
            format!("{i:03}")
        };
        if c.one_in(37) {
            // A dataset where a layer group belongs.
            write_dataset(&layers, &key, &[1], c)?;
            continue;
        }
        let g = layers.create_group(&key)?;
        let name = if c.one_in(23) {
            "layer_0".to_string()
        } else {
            format!("layer_{i}")
        };
        write_attr(&g, "name", Attr::Text(name), c)?;
        let kind = if c.one_in(19) {
            kinds[c.below(kinds.len())]
        } else {
            l.kind
        };
        write_attr(&g, "kind", Attr::Text(kind.into()), c)?;
        for (n, a) in l.attrs {
            if !c.one_in(23) {
                write_attr(&g, n, a, c)?;
            }
        }
        for (n, shape) in l.datasets {
            if !c.one_in(23) {
                write_dataset(&g, n, &shape, c)?;
            }
        }
    }
    Ok(())
}

/// `v` with fields removed, retyped or replaced as `c` chooses, or cut off as text.
fn mutate_json(v: Value, c: &mut Choices) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                if c.one_in(29) {
                    continue;
                }
                let x = if c.one_in(31) {
                    [
                        json!(null),
                        json!(-1),
                        json!("x"),
                        json!([]),
                        json!({}),
                        json!(1e308),
                        json!(4294967296u64),
                    ][c.below(7)]
                    .clone()
                } else {
                    mutate_json(x, c)
                };
                out.insert(k, x);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| mutate_json(x, c)).collect()),
        Value::Number(n) if c.one_in(17) => {
            let f = n.as_f64().unwrap_or(0.0);
            json!([0.0, -f, f * 1e6, 1e20, 3.5][c.below(5)])
        }
        x => x,
    }
}

/// A Keras `.h5` model file at `path` — a Sequential or Functional model of Conv2D,
/// BatchNormalization, pooling, Flatten, Dropout and Dense layers on a 8×8×1 input, with
/// `model_config` and the weight layout of Keras 2 or 3 — mutated as `data` chooses.
pub fn keras_file(path: &Path, data: &[u8]) -> hdf5::Result<()> {
    let c = &mut Choices::new(data);
    let file = hdf5::File::create(path)?;
    let keras3 = c.below(2) == 1;
    let layer = |class: &str, name: &str, mut config: Value| {
        config["name"] = json!(name);
        json!({"class_name": class, "config": config})
    };
    let conv_filters = c.size(4);
    let dense_in = c.size(64);
    let layers = vec![
        layer(
            "InputLayer",
            "input",
            json!({"batch_shape": [null, 8, 8, 1], "batch_input_shape": [null, 8, 8, 1]}),
        ),
        layer(
            "Conv2D",
            "conv",
            json!({"filters": conv_filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "activation": "relu", "use_bias": true, "data_format": "channels_last"}),
        ),
        layer(
            "BatchNormalization",
            "bn",
            json!({"axis": [3], "epsilon": 0.001, "center": true, "scale": true}),
        ),
        layer(
            "MaxPooling2D",
            "pool",
            json!({"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}),
        ),
        layer("Flatten", "flat", json!({})),
        layer("Dropout", "drop", json!({"rate": 0.5})),
        layer(
            "Dense",
            "dense",
            json!({"units": 10, "activation": "softmax", "use_bias": true}),
        ),
    ];
    let layers: Vec<Value> = layers.into_iter().filter(|_| !c.one_in(41)).collect();
    let functional = c.below(3) == 0;
    let config = if functional {
        let mut prev = "input".to_string();
        let with_inbound: Vec<Value> = layers
            .iter()
            .map(|l| {
                let name = l["config"]["name"].as_str().unwrap_or("x").to_string();
                let mut l = l.clone();
                l["name"] = json!(name);
                l["inbound_nodes"] = if name == "input" {
                    json!([])
                } else {
                    json!([[[prev, 0, 0, {}]]])
                };
                prev = name;
                l
            })
            .collect();
        json!({"class_name": "Functional", "config": {"name": "model", "layers": with_inbound, "input_layers": [["input", 0, 0]], "output_layers": [[prev, 0, 0]]}})
    } else {
        json!({"class_name": "Sequential", "config": {"name": "model", "layers": layers}})
    };
    let config = mutate_json(config, c);
    let text = if c.one_in(43) {
        let s = config.to_string();
        s[..s.len() / 2].to_string()
    } else {
        config.to_string()
    };
    write_attr(&file, "model_config", Attr::Text(text), c)?;
    write_attr(
        &file,
        "keras_version",
        Attr::Text(if keras3 { "3.6.0" } else { "2.15.0" }.into()),
        c,
    )?;
    write_attr(&file, "backend", Attr::Text("tensorflow".into()), c)?;
    if c.one_in(37) {
        return Ok(());
    }
    let weights = file.create_group("model_weights")?;
    // (layer, [(variable, shape)]).
    type Vars<'a> = Vec<(&'a str, Vec<(&'a str, Vec<usize>)>)>;
    let vars: Vars = vec![
        (
            "conv",
            vec![
                ("kernel", vec![3, 3, 1, conv_filters]),
                ("bias", vec![conv_filters]),
            ],
        ),
        (
            "bn",
            vec![
                ("gamma", vec![4]),
                ("beta", vec![4]),
                ("moving_mean", vec![4]),
                ("moving_variance", vec![4]),
            ],
        ),
        (
            "dense",
            vec![("kernel", vec![dense_in, 10]), ("bias", vec![10])],
        ),
    ];
    let mut names = Vec::new();
    for (layer, vs) in vars {
        names.push(layer);
        let g = weights.create_group(layer)?;
        let mut wnames = Vec::new();
        for (v, shape) in vs {
            // Keras 2: `layer/var:0` under a group of the layer's name; Keras 3: `vars/N`.
            let wname = if keras3 {
                format!("{layer}/{v}")
            } else {
                format!("{layer}/{v}:0")
            };
            let wname = if c.one_in(31) {
                format!("{wname}x")
            } else {
                wname
            };
            let (group_path, leaf) = wname.rsplit_once('/').expect("has a slash");
            let sub = match g.group(group_path) {
                Ok(s) => s,
                Err(_) => g.create_group(group_path)?,
            };
            write_dataset(&sub, leaf, &shape, c)?;
            wnames.push(wname);
        }
        if !c.one_in(29) {
            let list: Vec<VarLenUnicode> = wnames
                .iter()
                .map(|w| w.parse().unwrap_or_default())
                .collect();
            if c.one_in(7) {
                let fixed: Vec<FixedAscii<32>> = wnames
                    .iter()
                    .map(|w| FixedAscii::<32>::from_ascii(w.as_bytes()).unwrap_or_default())
                    .collect();
                g.new_attr_builder()
                    .with_data(&fixed)
                    .create("weight_names")?;
            } else {
                g.new_attr_builder()
                    .with_data(&list)
                    .create("weight_names")?;
            }
        }
    }
    let list: Vec<VarLenUnicode> = names
        .iter()
        .map(|w| w.parse().unwrap_or_default())
        .collect();
    weights
        .new_attr_builder()
        .with_data(&list)
        .create("layer_names")?;
    Ok(())
}
