#!/usr/bin/env bash
# Searches sleep options one at a time around the released MNIST setting, then some combinations,
# on the class-incremental experiment without its controls. Prints one line per setting:
#   final accuracy (mean over SEEDS seeds), then the options.
# Usage: benches/sleep_search.sh OUT_DIR [SEEDS]   (about 8 s per seed and setting on 2 cores)
set -euo pipefail
out=${1:?usage: benches/sleep_search.sh OUT_DIR [SEEDS]}
seeds=${2:-2}
cargo build --release --quiet
bin=target/release/somnet
mkdir -p "$out"
run() {
  local name=$1; shift
  if ! "$bin" incremental --seeds "$seeds" --no-controls --out "$out/$name" "$@" > "$out/$name.log" 2>&1; then
    echo "failed   $name: $* ($(tail -1 "$out/$name.log"))"
    return
  fi
  python3 -c "import json,sys; r=json.load(open('$out/$name/result.json')); print(f\"{100*r['final_accuracy']['sleep']:6.2f} %  $name: $*\")"
}
run released
run inc-dec-half --inc 0.016032 --dec 0.001672
run inc-dec-double --inc 0.064128 --dec 0.006688
run dec-half --dec 0.001672
run dec-double --dec 0.006688
run alpha-half --alpha-scale 27.94
run alpha-double --alpha-scale 111.76
run mask-7 --mask-size 7
run mask-14 --mask-size 14
run mask-none --mask-size 28
run samples-1 --input samples:1
run samples-10 --input samples:10
run short --sleep-base 5000 --sleep-per-task 2000
run long --sleep-base 30000 --sleep-per-task 10000
run no-leak --decay 1
run sigma-increasing --sigma increasing:1
run sigma-increasing-small-steps --sigma increasing:1 --inc 0.001 --dec 0.0001
# Round 2: thresholds and input scale together, finer steps around the released values.
run beta-0.75 --beta 10.911,33.420,28.535
run beta-1.5 --beta 21.822,66.840,57.069
run beta-2 --beta 29.097,89.121,76.093
run alpha-0.75 --alpha-scale 41.91
run alpha-1.25 --alpha-scale 69.85
run inc-0.75 --inc 0.024048
run inc-1.5 --inc 0.048096
run dec-1.25 --dec 0.00418
run mask-9 --mask-size 9
run mask-13 --mask-size 13
# Round 3: around the best of round 2 (inc × 0.75, alpha × 0.75).
run inc-0.6 --inc 0.019238
run inc-0.7 --inc 0.022445
run inc-0.8 --inc 0.025651
run inc-0.75-alpha-0.75 --inc 0.024048 --alpha-scale 41.91
run inc-0.6-alpha-0.75 --inc 0.019238 --alpha-scale 41.91
run inc-0.75-alpha-0.9 --inc 0.024048 --alpha-scale 50.29
run inc-0.75-dec-0.9 --inc 0.024048 --dec 0.00301
