#!/usr/bin/env bash
# The conversion benchmark of issue "ANN → SNN conversion": for a trained model (e.g. the MLP of
# benches/mnist_training.sh), all 10 000 MNIST test images, 2 threads:
#   1. the reference settings at T = 256 (accuracy, latency, SOPs, throughput),
#   2. somnet's best options for the model (BEST_KNOBS; default: θ/2 start, membrane readout),
#   3. the latency knobs: initial potential × readout × normalisation scope,
#   4. the sweep over input coding × neuron × reset at T = 256 (skipped with QUICK=1),
#   5. Izhikevich neurons at T = 1000 (skipped with QUICK=1).
# Usage: [QUICK=1] benches/conversion.sh MODEL.h5 OUT_DIR [BEST_KNOBS...]
#   e.g. benches/conversion.sh lenet.h5 out/lenet --initial half --norm channel
set -euo pipefail
model=${1:?usage: benches/conversion.sh MODEL.h5 OUT_DIR [BEST_KNOBS...]}
out=${2:?usage: benches/conversion.sh MODEL.h5 OUT_DIR [BEST_KNOBS...]}
shift 2
best=("$@")
if [ ${#best[@]} -eq 0 ]; then
    best=(--initial half --readout membrane)
fi
cargo build --release --quiet
bin=target/release/somnet
mkdir -p "$out"
"$bin" evaluate --model "$model" --steps 256 --out "$out/reference"
"$bin" evaluate --model "$model" --steps 256 "${best[@]}" --out "$out/best"
"$bin" sweep --model "$model" --steps 256 \
    --grid "initial=zero,half;readout=spikes,membrane;norm=layer,channel" \
    --out "$out/latency" > "$out/latency.log"
cut -d, -f1-6,12 "$out/latency/sweep.csv"
if [ "${QUICK:-0}" != 1 ]; then
    "$bin" sweep --model "$model" --steps 256 --out "$out/sweep" > "$out/sweep.log"
    "$bin" evaluate --model "$model" --steps 1000 --neuron izhikevich --out "$out/izhikevich"
    tail -9 "$out/sweep.log"
fi
