#!/usr/bin/env bash
# groupscale, onnxruntime and ncnn side by side on the preset layers, in one run.
# Makes its own venv (target/peers-venv) from PyPI the first time.
# Usage: scripts/compare-peers.sh [--settings 1x1,32x2] [--time-ms 1000] [--json out.json]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/peers-venv
if ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy, ncnn' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet onnxruntime onnx numpy ncnn
fi
cargo build --release --quiet
exec "$venv/bin/python" scripts/compare_peers.py "$@"
