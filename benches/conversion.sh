#!/usr/bin/env bash
# The conversion benchmark of issue "ANN → SNN conversion": for a trained model (e.g. the MLP of
# benches/mnist_training.sh), all 10 000 MNIST test images:
#   1. the reference settings at T = 256 (accuracy, latency, SOPs, throughput),
#   2. somnet's best options (θ/2 start, membrane readout),
#   3. the sweep over input coding × neuron × reset at T = 256,
#   4. Izhikevich neurons at T = 1000.
# Usage: benches/conversion.sh MODEL.h5 OUT_DIR
set -euo pipefail
model=${1:?usage: benches/conversion.sh MODEL.h5 OUT_DIR}
out=${2:?usage: benches/conversion.sh MODEL.h5 OUT_DIR}
cargo build --release --quiet
bin=target/release/somnet
mkdir -p "$out"
"$bin" evaluate --model "$model" --steps 256 --out "$out/reference"
"$bin" evaluate --model "$model" --steps 256 --initial half --readout membrane --out "$out/best"
"$bin" sweep --model "$model" --steps 256 --out "$out/sweep" > "$out/sweep.log"
"$bin" evaluate --model "$model" --steps 1000 --neuron izhikevich --out "$out/izhikevich"
tail -9 "$out/sweep.log"
