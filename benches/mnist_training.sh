#!/usr/bin/env bash
# Trains the three MNIST networks of the conversion benchmarks (src/ann/arch.rs: mlp, lenet, bn-cnn) on all 60 000 training images and prints
# the final test accuracy and the mean epoch time (the training-speed benchmark of somnet's ANN core).
#   benches/mnist_training.sh [OUT_DIR] [EPOCHS]
set -euo pipefail
out="${1:-bench-out}"; epochs="${2:-10}"
mkdir -p "$out"
cargo build --release --quiet
somnet=target/release/somnet
run() {
  local name=$1; shift
  "$somnet" train "$@" --epochs "$epochs" --seed 1 --out "$out/$name.h5" > "$out/$name.log"
  python3 - "$out/$name.train.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["epochs"]
print(f'{sys.argv[2]:8s} test accuracy {100 * e[-1]["test_accuracy"]:.2f} % (best {100 * max(x["test_accuracy"] for x in e):.2f} %), '
      f'{sum(x["seconds"] for x in e) / len(e):.2f} s/epoch over {len(e)} epochs')
PY
}
run mlp --arch mlp:784-1200-1200-10 --no-bias --dropout 0.25
run lenet --arch lenet
run bn-cnn --arch bn-cnn
