#!/usr/bin/env bash
# The low-latency benchmark of issue 17 on Fashion-MNIST (datasets/fetch.sh fashion-mnist-deb), all
# 10 000 test images, 2 threads. One network (ARCH, default lenet) trained twice with seed 1: with
# ReLU, and with QCFS activations of L = 4 levels (Bu et al., ICLR 2022). Then:
#   1. ReLU, reference settings, T = 256;
#   2. ReLU, reference settings, T = 32 and T = 16, as converted, after bias calibration and
#      after weight calibration on 1 000 training images (Li et al., ICML 2021, light calibration
#      and the advanced pipeline's weight calibration);
#   3. QCFS at T = 8: θ = λ, θ/2 start, membrane readout, average pooling folded.
# Each run writes result.json (energy_at_latency: steps, SOPs and pJ at ANN − 1/0.5/0.1 pp) and
# per_step.csv; the summary table goes to OUT/summary.tsv.
# Usage: benches/low_latency.sh OUT_DIR [DATASET] [ARCH] [EPOCHS]   (DATASET: fashion-mnist,
# or cifar-10 where the data is present)
set -euo pipefail
out=${1:?usage: benches/low_latency.sh OUT_DIR [DATASET] [ARCH] [EPOCHS]}
dataset=${2:-fashion-mnist}
arch=${3:-lenet}
epochs=${4:-8}
cargo build --release --quiet
bin=target/release/somnet
mkdir -p "$out"
"$bin" train --arch "$arch" --dataset "$dataset" --epochs "$epochs" --seed 1 --out "$out/relu.h5"
"$bin" train --arch "$arch" --dataset "$dataset" --epochs "$epochs" --seed 1 --qcfs 4 --out "$out/qcfs.h5"
run() { # NAME MODEL STEPS [KNOBS...]
    local name=$1 model=$2 steps=$3
    shift 3
    "$bin" evaluate --model "$model" --dataset "$dataset" --steps "$steps" "$@" --out "$out/$name" | tail -1
}
run relu-t256 "$out/relu.h5" 256
run relu-t32 "$out/relu.h5" 32
run relu-t32-calibrated "$out/relu.h5" 32 --calibrate-biases 1000
run relu-t32-weights "$out/relu.h5" 32 --calibrate-weights 1000
run relu-t16 "$out/relu.h5" 16
run relu-t16-calibrated "$out/relu.h5" 16 --calibrate-biases 1000
run relu-t16-weights "$out/relu.h5" 16 --calibrate-weights 1000
run qcfs-t8 "$out/qcfs.h5" 8 --initial half --readout membrane --avgpool fold
python3 benches/summarize_low_latency.py "$out" relu-t256 relu-t32 relu-t32-calibrated relu-t32-weights relu-t16 \
    relu-t16-calibrated relu-t16-weights qcfs-t8
if [ "$dataset" = cifar-10 ]; then
    echo "published CIFAR-10 figures to compare with (benches/results/published-cifar-10.tsv):"
    grep -v '^#' benches/results/published-cifar-10.tsv
fi
