#!/usr/bin/env bash
# The time-to-first-spike benchmark of issue 17 (Stanojevic et al., Neural Networks 2023): every
# neuron fires at most once. On the networks benches/resnet.sh trains into OUT (relu.h5, and
# qcfs.h5 with QCFS L = 4), and benches/low_latency.sh into OUT_LENET (relu.h5) if given, all test
# images, 2 threads:
#   1. ReLU, continuous spike times (the exact mapping), 16 steps per layer window, analog input,
#      normalised at the 99.9th percentile (the reference) and at the maximum (nothing clipped);
#   2. ReLU on a clock of 16 and of 8 steps per window (values rounded to 16 / 8 levels);
#   3. QCFS L = 4 on a clock of 4 steps per window, global pooling folded (its quantisation is the
#      clock's: no conversion error expected);
#   4. LeNet, continuous, latency input (one spike per pixel too).
# Decisions by the first output spike. The table (ANN and SNN accuracy, steps to ANN − 0.5 pp,
# energy against the ANN's, spikes per neuron) goes to OUT/ttfs-summary/summary.tsv.
# Usage: benches/ttfs.sh OUT [DATASET] [OUT_LENET]
set -euo pipefail
out=${1:?usage: benches/ttfs.sh OUT [DATASET] [OUT_LENET]}
dataset=${2:-fashion-mnist}
lenet=${3:-}
cargo build --release --quiet
cp target/release/somnet "$out/somnet-ttfs"
bin=$out/somnet-ttfs
run() { # DIR NAME MODEL [KNOBS...]
    local dir=$1 name=$2 model=$3
    shift 3
    # Enough steps for every window of the deepest network here (the command prints how many).
    "$bin" evaluate --model "$model" --dataset "$dataset" --steps 320 --coding ttfs "$@" \
        --out "$dir/$name" | tail -1
}
run "$out" ttfs-relu "$out/relu.h5"
run "$out" ttfs-relu-p100 "$out/relu.h5" --percentile 100
run "$out" ttfs-relu-clock16 "$out/relu.h5" --ttfs-clock steps --ttfs-steps 16
run "$out" ttfs-relu-clock8 "$out/relu.h5" --ttfs-clock steps --ttfs-steps 8
run "$out" ttfs-qcfs-clock4 "$out/qcfs.h5" --ttfs-clock steps --ttfs-steps 4 --avgpool fold
names=(ttfs-relu ttfs-relu-p100 ttfs-relu-clock16 ttfs-relu-clock8 ttfs-qcfs-clock4)
if [ -n "$lenet" ]; then
    run "$out" ttfs-lenet "$lenet/relu.h5" --input latency
    names+=(ttfs-lenet)
fi
mkdir -p "$out/ttfs-summary"
for n in "${names[@]}"; do ln -sfn "../$n" "$out/ttfs-summary/$n"; done
python3 benches/summarize_low_latency.py "$out/ttfs-summary" "${names[@]}"
