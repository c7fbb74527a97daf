#!/usr/bin/env bash
# Remakes pair_nest_spikes.csv: the two-neuron network (`somnet export-sonata --network pair`) run
# for 1 s by NEST from the exported SONATA files. Needs a Python with
# benches/peers/requirements-nest.txt installed (PYTHON=path/to/python; default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
cargo run --release --quiet -- export-sonata --network pair --tstop 1000 --run "$out"
"${PYTHON:-python3}" "$out/run_nest.py" "$out"
cp "$out/output/nest_spikes_0.csv" tests/sonata/pair_nest_spikes.csv
