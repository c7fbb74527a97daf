#!/usr/bin/env bash
# Runs the release build on emulated older CPUs (qemu-user: `apt-get install qemu-user`) and
# prints the vector level each picked and its CUBA spike digest, next to this CPU's: the build
# must start everywhere (no illegal instruction) and every level must give the same digest.
#   cargo build --release && bash benches/portable_check.sh
set -euo pipefail
B=${1:-target/release/somnet-bench}
run() { "$@" cuba --n 4000 --threads 1 --t-ms 200 2>/dev/null |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["simd"], d["spike_digest"], d["spikes"])'; }
echo "this CPU:                 $(run "$B")"
for cpu in Nehalem-v1 Haswell-v1; do # x86-64-v2, x86-64-v3
  echo "qemu -cpu $cpu: $(run qemu-x86_64 -cpu "$cpu" "$B")"
done
for level in portable avx2; do
  echo "SOMNET_SIMD=$level:    $(SOMNET_SIMD=$level run "$B")"
done
