#!/usr/bin/env bash
# The whole shipped model against onnxruntime running static ONNX exports of
# each width k, in one run. Makes its own venv (target/peers-venv) from PyPI
# the first time, as compare-peers.sh does.
# Usage: scripts/compare-model.sh [--model models/groupalexnet-isolated] [--settings 1x1,32x2] [--json out.json]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/peers-venv
if ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet onnxruntime onnx numpy
fi
cargo build --release --quiet
exec "$venv/bin/python" scripts/compare_model.py "$@"
