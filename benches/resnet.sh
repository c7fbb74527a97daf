#!/usr/bin/env bash
# The residual-network benchmark of issue 17 on Fashion-MNIST (datasets/fetch.sh fashion-mnist-deb),
# all 10 000 test images, 2 threads. One residual network (ARCH, default resnet-small: ResNet-8 of
# He et al. 2016 with 16/32/64 channels, identity and projection shortcuts, global average pooling)
# trained twice with seed 1: with ReLU, and with QCFS activations of L = 4 levels (Bu et al., ICLR
# 2022). Then:
#   1. ReLU, reference settings (analog input, IF, reset by subtraction, 99.9th percentile), T = 256;
#   2. QCFS at T = 8: θ = λ, θ/2 start, membrane readout, global pooling folded into the classifier;
#   3. the same after an offset-spike pre-run of 4 steps per image (Hao et al., ICLR 2023), and
#      plain QCFS at T = 12, the same number of steps in all;
#   4. QCFS at T = 8 with its weights calibrated on 1 000 training images (Li et al., ICML 2021).
# Each run writes result.json (energy_at_latency: steps, SOPs and pJ at ANN − 1/0.5/0.1 pp) and
# per_step.csv; the summary table goes to OUT/summary.tsv. Trained models already in OUT are reused.
# Usage: benches/resnet.sh OUT_DIR [DATASET] [ARCH] [EPOCHS]   (DATASET: fashion-mnist, or cifar-10
# where the data is present: e.g. ARCH resnet20, the published ResNet-20, or VGG-16 as the spec
# c64k3same-bn-relu-c64k3same-bn-relu-ap2-c128k3same-bn-relu-c128k3same-bn-relu-ap2-c256k3same-bn-relu-c256k3same-bn-relu-c256k3same-bn-relu-ap2-c512k3same-bn-relu-c512k3same-bn-relu-c512k3same-bn-relu-ap2-c512k3same-bn-relu-c512k3same-bn-relu-c512k3same-bn-relu-gap-dcls-out;
# the published figures are printed beside ours)
set -euo pipefail
out=${1:?usage: benches/resnet.sh OUT_DIR [DATASET] [ARCH] [EPOCHS]}
dataset=${2:-fashion-mnist}
arch=${3:-resnet-small}
epochs=${4:-10}
cargo build --release --quiet
mkdir -p "$out"
# The binary the figures come from, kept beside them (a rebuild during the run cannot change it).
cp target/release/somnet "$out/somnet"
bin=$out/somnet
[ -f "$out/relu.h5" ] || "$bin" train --arch "$arch" --dataset "$dataset" --epochs "$epochs" --seed 1 --out "$out/relu.h5"
[ -f "$out/qcfs.h5" ] || "$bin" train --arch "$arch" --dataset "$dataset" --epochs "$epochs" --seed 1 --qcfs 4 --out "$out/qcfs.h5"
run() { # NAME MODEL STEPS [KNOBS...]
    local name=$1 model=$2 steps=$3
    shift 3
    "$bin" evaluate --model "$model" --dataset "$dataset" --steps "$steps" "$@" --out "$out/$name" | tail -1
}
run relu-t256 "$out/relu.h5" 256
run qcfs-t8 "$out/qcfs.h5" 8 --initial half --readout membrane --avgpool fold
run qcfs-t8-offset4 "$out/qcfs.h5" 8 --initial half --readout membrane --avgpool fold --offset-presteps 4
run qcfs-t12 "$out/qcfs.h5" 12 --initial half --readout membrane --avgpool fold
run qcfs-t8-weights "$out/qcfs.h5" 8 --initial half --readout membrane --avgpool fold --calibrate-weights 1000
python3 benches/summarize_low_latency.py "$out" relu-t256 qcfs-t8 qcfs-t8-offset4 qcfs-t12 qcfs-t8-weights
if [ "$dataset" = cifar-10 ]; then
    echo "published CIFAR-10 figures to compare with (benches/results/published-cifar-10.tsv):"
    grep -v '^#' benches/results/published-cifar-10.tsv
fi
