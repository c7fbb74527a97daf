use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::train::{train, Loss, Optimizer, TrainConfig};
use somnet::ann::{Activation, DropoutMode};
use somnet::data::{mnist, Split};
use std::ops::ControlFlow;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arch = &a[1];
    let n: usize = a[2].parse().unwrap();
    let epochs: usize = a[3].parse().unwrap();
    let dir = somnet::data::default_dir().join("mnist");
    let tr = mnist::load_mnist(&dir, Split::Train)
        .unwrap()
        .first_n_of_classes(&[0, 1], n);
    let te = mnist::load_mnist(&dir, Split::Test)
        .unwrap()
        .filter_classes(&[0, 1]);
    let src = ArchOptions {
        bias: false,
        output: Activation::Relu,
        dropout: 0.25,
        dropout_mode: DropoutMode::ScaleAtTest,
        init: somnet::ann::init::Init::Uniform { a: 0.01 },
    };
    let mut ann = build(arch, &[1, 28, 28], 10, &src, 1).unwrap();
    let cfg = TrainConfig {
        epochs,
        batch_size: 100,
        loss: Loss::Mse,
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.5,
        },
        seed: 1,
        shuffle: true,
    };
    let log = train(
        &mut ann,
        &tr,
        Some(&te),
        &cfg,
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    for e in log.epochs {
        println!(
            "{} loss {:.4} train {:.3} test {:?} {:.1}s",
            e.epoch, e.loss, e.train_accuracy, e.test_accuracy, e.seconds
        );
    }
}
