#!/usr/bin/env bash
# The wheel as a new user meets it: builds the portable abi3 wheel (HDF5 built from source and
# linked in: the `static-hdf5` feature pyproject.toml selects, which needs cmake >= 3.26, taken
# from PyPI here), shows
# that the extension links no libhdf5, installs the wheel into a fresh venv with nothing else, and
# runs a conversion and a simulation there, comparing the digest with the CLI's. Not part of
# the test command (the HDF5 build takes minutes); run it before a release:
#   bash tests/wheel_check.sh [WHEEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/wheels-portable}
tools=target/wheel-tools
[ -x "$tools/bin/maturin" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install --quiet "maturin==1.16.0" "cmake>=3.26,<4"; }
PATH="$PWD/$tools/bin:$PATH" maturin build --release -o "$out"   # static-hdf5: pyproject.toml
wheel=$(ls -t "$out"/somnet-*.whl | head -1)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
(cd "$check" && python3 -m zipfile -e "$wheel" unpacked >/dev/null)
so=$(find "$check/unpacked" -name '_somnet*.so')
ldd "$so"
if ldd "$so" | grep -q hdf5; then echo "FAIL: the extension links libhdf5"; exit 1; fi
python3 -m venv "$check/venv"
"$check/venv/bin/pip" install --quiet "$wheel"
cargo build --release --quiet --bin somnet
expected=$(target/release/somnet bench cuba --n 2000 --t-ms 200 --seed 5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["spike_digest"])')
root=$PWD
(cd "$check" && "$check/venv/bin/python" - "$root" "$expected" <<'PY'
import sys, time
t0 = time.perf_counter()
import somnet
print(f"import somnet: {time.perf_counter() - t0:.2f} s, vector level {somnet.simd_level()}")
root, expected = sys.argv[1], sys.argv[2]
images, labels = somnet.datasets.load("mnist", "test", limit=500)
train, _ = somnet.datasets.load("mnist", "train", limit=6000)
result = somnet.convert(somnet.load(f"{root}/tests/golden/mlp.h5"), train[::10]).evaluate(images, labels, steps=32)
print(f"MLP: ANN {100 * result.ann_accuracy:.1f} %, SNN {100 * result.snn_accuracy:.1f} % after 32 steps")
assert result.snn_accuracy > 0.85
net = somnet.Network(dt_ms=0.1, seed=5, max_delay_ms=1.0)
lif = somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-49.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=5.0)
pop = net.add_population("cuba", 2000, lif, ports=[somnet.Exponential(5.0), somnet.Exponential(10.0)])
net.set_v_uniform(pop, -60.0, -50.0)
net.connect(pop[:1600], pop, p=0.04, weight=1.62, delay_steps=1, port=0, name="exc")
net.connect(pop[1600:], pop, p=0.04, weight=-9.0, delay_steps=1, port=1, name="inh")
net.run(200.0)
assert net.spike_digest() == expected, (net.spike_digest(), expected)
print(f"CUBA-2000 digest {net.spike_digest()} = the CLI's")
PY
)
echo "wheel check passed"
