use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::train::{train, Loss, Optimizer, TrainConfig};
use somnet::data::{mnist, Split};
use std::ops::ControlFlow;
fn main() {
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    let args: Vec<String> = std::env::args().collect();
    let arch = args
        .get(1)
        .map(|s| s.as_str())
        .unwrap_or("mlp:784-1200-1200-10");
    let epochs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = somnet::data::default_dir().join("mnist");
    let tr = mnist::load_mnist(&dir, Split::Train).unwrap();
    let te = mnist::load_mnist(&dir, Split::Test).unwrap();
    let opts = ArchOptions {
        dropout: 0.25,
        ..Default::default()
    };
    let mut ann = build(arch, &[1, 28, 28], 10, &opts, 1).unwrap();
    let cfg = TrainConfig {
        epochs,
        batch_size: 100,
        loss: Loss::CrossEntropy,
        optimizer: Optimizer::adam(1e-3),
        seed: 1,
        shuffle: true,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let out = pool.install(|| {
        train(
            &mut ann,
            &tr,
            Some(&te),
            &cfg,
            |_| ControlFlow::Continue(()),
        )
        .unwrap()
    });
    for e in out.epochs {
        println!("{e:?}");
    }
}
