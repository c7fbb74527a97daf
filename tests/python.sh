#!/usr/bin/env bash
# The Python half of the test command (`cargo test --release && bash tests/python.sh`): the package
# built from this checkout into the venv target/pyenv with the pinned test requirements, and its
# pytest suite, which compares with the CLI that `cargo test --release` has just built.
set -euo pipefail
cd "$(dirname "$0")/.."

# `cargo test --release` builds target/release/somnet for the integration tests; build it only if
# this script runs alone (a separate `cargo build` would rebuild everything with other features).
[ -x target/release/somnet ] || cargo build --release --bin somnet

venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r python/requirements-test.txt
"$venv/bin/pip" install --quiet --force-reinstall --no-deps .
# Keras 3 runs on the torch backend here (no TensorFlow needed).
KERAS_BACKEND=torch "$venv/bin/python" -m pytest -q python/tests
