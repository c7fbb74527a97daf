//! Throughput of converted-network inference against the number of samples stepped together.
//!
//! `cargo run --release --example lanes_throughput -- MODEL [STEPS] [IMAGES] [BATCH,BATCH,…]`
//! converts MODEL (reference settings, normalised on 1 000 training images), then evaluates the
//! first IMAGES test images of MNIST for STEPS steps with each batch size (lanes,
//! `somnet::convert::batch`) on the current thread pool, and prints one JSON line per batch:
//! images/s, synaptic events/s, and whether the counts equal those of the first batch size.

use std::ops::ControlFlow;
use std::time::Instant;

use somnet::convert::evaluate::count_batched;
use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::convert;
use somnet::data::{mnist, Split};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .ok_or("usage: MODEL [STEPS] [IMAGES] [BATCHES]")?;
    let steps: u64 = args.get(1).map_or(Ok(256), |s| s.parse())?;
    let images: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let batches: Vec<usize> = args
        .get(3)
        .map_or("1,16".to_string(), |s| s.clone())
        .split(',')
        .map(|b| b.parse())
        .collect::<Result<_, _>>()?;
    let dir = somnet::data::default_dir().join("mnist");
    let train = mnist::load_mnist(&dir, Split::Train)?.head(1000);
    let test = mnist::load_mnist(&dir, Split::Test)?.head(images);
    let ann = somnet::io::load_model(std::path::Path::new(model))?.0.ann;
    let options = ConvertOptions::default();
    let converted = convert(&ann, &train, &options)?;
    let mut first = None;
    for batch in batches {
        let t0 = Instant::now();
        let counts = count_batched(&converted.ann, &test, 0, steps, &options, batch, |_| {
            ControlFlow::Continue(())
        })?;
        let s = t0.elapsed().as_secs_f64();
        let same = first.get_or_insert_with(|| counts.clone()) == &counts;
        println!(
            "{{\"batch\":{batch},\"images\":{images},\"steps\":{steps},\"seconds\":{s:.3},\"images_per_s\":{:.1},\"events_per_s\":{:.4e},\"accuracy\":{:.4},\"same_counts\":{same}}}",
            images as f64 / s,
            counts.synaptic_ops as f64 / s,
            *counts.correct_per_step.last().unwrap_or(&0) as f64 / images as f64,
        );
    }
    Ok(())
}
