#!/usr/bin/env bash
# Every test: the Rust suite, then the Python package (built from this checkout into the venv
# target/pyenv, with the pinned test requirements) and its pytest suite, which compares with the
# CLI built here. Run from anywhere: bash tests/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --release
# `cargo test` has just built target/release/somnet for the integration tests (the pytest suite
# compares with it); a separate `cargo build` would rebuild everything with other features.
[ -x target/release/somnet ] || cargo build --release --bin somnet

venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r python/requirements-test.txt
"$venv/bin/pip" install --quiet --force-reinstall --no-deps .
# Keras 3 runs on the torch backend here (no TensorFlow needed).
KERAS_BACKEND=torch "$venv/bin/python" -m pytest -q python/tests
