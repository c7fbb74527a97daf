#!/usr/bin/env bash
# Sleep replay under the honest protocol (issue 20): every sleep setting is chosen on a validation
# split carved from the training images of the seen tasks (seeded), and the chosen one is tested
# once on the test set over 5 seeds with both controls. Then the presets, the biological elements
# of replay one at a time, and the convolutional network on Fashion-MNIST.
# Usage: benches/sleep_search.sh OUT_DIR [TRIALS]   (≈ 35 s per trial and 90 s per tested seed
# on 2 cores; Fashion-MNIST from `datasets/fetch.sh fashion-mnist-deb`)
set -euo pipefail
out=${1:?usage: benches/sleep_search.sh OUT_DIR [TRIALS]}
trials=${2:-36}
cargo build --release --quiet
bin=target/release/somnet
mkdir -p "$out"

# 1. The search that found `--preset best`: the replication's training on the paper's network
#    (784-1200-1200-10), random draws over the sleep options; --resume continues a stopped search.
"$bin" search --preset replication --set hidden=1200,1200 \
  --space inc=log:0.0002..0.01 --space dec=log:0.00001..0.001 \
  --space sleep-base=int:200..3000 --space sleep-per-task=int:0..1000 \
  --space 'mask=choice:pixels:0.1|pixels:0.25|pixels:0.5' \
  --space 'input=choice:samples:1|samples:10|samples:30|sequence:500:10' \
  --space 'alpha=choice:data|14.983829,253.17746,7.770772' --space alpha-scale=log:10..200 \
  --space 'sleep-data=choice:seen|current' --space 'adaptation=choice:off|0.2:0.9|0.5:0.5' \
  --space 'sleep-momentum=choice:0|0.3' \
  --trials "$trials" --search-seed 1 --final-seeds 5 --out "$out/search-mnist" --resume

# 2. The presets, 5 seeds with both controls.
for preset in released replication best; do
  "$bin" incremental --preset "$preset" --seeds 5 --out "$out/$preset" --resume
done

# 3. The biological elements of replay, one at a time on the released setting (5 seeds, no
#    controls): final accuracy, old-task accuracy and sleep seconds are in each result.json.
run() {
  local name=$1; shift
  "$bin" incremental --seeds 5 --set controls=off --out "$out/elements/$name" --resume "$@" \
    > "$out/elements/$name.log" 2>&1 || echo "failed: $name"
}
mkdir -p "$out/elements"
run none
run adaptation-weak --set adaptation=0.2:0.9
run adaptation-strong --set adaptation=0.5:0.5
run momentum-0.3 --set sleep-momentum=0.3
run momentum-0.3-half-length --set sleep-momentum=0.3 --set sleep-base=7500 --set sleep-per-task=2500
run interleave-3 --set interleave=3
run sequence-500 --set input=sequence:500:10
python3 benches/summarize_sleep_elements.py "$out/elements" > "$out/elements.md"

# 4. Sleep over convolutions: a small bias-free CNN on Fashion-MNIST (data-based input scales).
if [ -f datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$bin" incremental --dataset fashion-mnist --seeds 5 --out "$out/fashion-cnn" --resume \
    --set arch=c16k5s2-relu-c32k3s2-relu-flat-d128-relu-dcls-out \
    --set beta=14.548273,44.560317,44.560317,38.046326
fi
