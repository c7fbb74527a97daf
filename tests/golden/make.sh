#!/usr/bin/env bash
# Regenerates tests/golden: small MNIST models, then what the somnet CLI prints and writes for them
# (tests/it/golden.rs with SOMNET_BLESS=1 writes expected/ instead of comparing with it). Run from
# the repository root:
#   bash tests/golden/make.sh            # models and expected outputs
#   KEEP_MODELS=1 bash tests/golden/make.sh   # expected outputs only
# Models: 1 epoch (seed 1) on the 60 000 MNIST training images; the converted files use 600
# calibration images (every 10th training image). ANN-side figures (accuracy, λ) come from
# matrixmultiply, whose kernel follows the CPU: regenerate on the CI machine class if that changes.
set -euo pipefail
cargo build --release --quiet
B=target/release/somnet
G=tests/golden
mkdir -p "$G/expected"
if [ "${KEEP_MODELS:-0}" != 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  train() { "$B" train --arch "$2" --epochs 1 --seed 1 "${@:3}" --out "$tmp/$1.h5" >/dev/null; }
  adam=(--optimizer adam --lr 0.001)
  train mlp mlp:784-32-10 "${adam[@]}"
  train lenet c8k5-relu-ap2-c16k3-relu-ap2-flat-d64-relu-d10-out "${adam[@]}"
  train bncnn c8k3-bn-relu-mp2-c16k3s2same-bn-relu-c16k3same-bn-relu-mp2-flat-d32-bn-relu-d10-out "${adam[@]}"
  train sleepy mlp:784-32-32-10 --no-bias --output-activation relu --loss mse --optimizer sgd --momentum 0.5 --lr 0.1
  cp "$tmp/mlp.h5" "$tmp/sleepy.h5" "$G/"
  for m in lenet bncnn; do
    "$B" convert --model "$tmp/$m.h5" --calibration-limit 600 --out "$G/$m.snn.h5" >/dev/null
  done
fi
SOMNET_BLESS=1 cargo test --release --quiet --test it golden
ls -l "$G" "$G/expected"
