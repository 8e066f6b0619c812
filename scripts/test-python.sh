#!/usr/bin/env bash
# The Python tests of train/ (the groupscale_train package): layers against
# plain PyTorch, frozen groups, checkpoints, export, the original train.py's
# exact behaviour, and -- when the crate's release binary is built -- the
# exported model run by `groupscale eval` at every k.
#
#   scripts/test-python.sh                  # skips the binary test without target/release/groupscale
#   scripts/test-python.sh --require-bin    # a missing binary fails instead
#   scripts/test-python.sh -k export -x     # anything else goes to pytest
#
# Uses (and creates when missing) the venv target/train-venv, or $GROUPSCALE_VENV;
# installs torch, numpy, safetensors, pytest, onnx, onnxruntime and `-e train/` into it only
# when they are missing (through pip's cache). GROUPSCALE_BIN, when already
# set, names the binary instead of target/release/groupscale.
set -euo pipefail
cd "$(dirname "$0")/.."

require=0
pytest_args=()
for arg in "$@"; do
    case "$arg" in
        --require-bin) require=1 ;;
        *) pytest_args+=("$arg") ;;
    esac
done

venv=${GROUPSCALE_VENV:-target/train-venv}
py=$venv/bin/python
if [ ! -x "$py" ]; then
    echo "creating the venv $venv" >&2
    python3 -m venv "$venv"
fi
missing=()
for module in torch numpy safetensors pytest onnx onnxruntime; do
    "$py" -c "import $module" 2>/dev/null || missing+=("$module")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} into $venv" >&2
    "$py" -m pip install "${missing[@]}"
fi
# The package, editable, from this checkout (not another one's).
if ! "$py" - <<'PY' 2>/dev/null
import os, sys
import groupscale_train
sys.exit(0 if os.path.samefile(os.path.dirname(groupscale_train.__file__), "train/groupscale_train") else 1)
PY
then
    echo "installing -e train/ into $venv" >&2
    "$py" -m pip install --no-build-isolation --no-deps -e train/
fi

if [ -z "${GROUPSCALE_BIN:-}" ] && [ -x target/release/groupscale ]; then
    export GROUPSCALE_BIN=$PWD/target/release/groupscale
fi
if [ "$require" = 1 ]; then
    export GROUPSCALE_REQUIRE_BIN=1
fi
echo "GROUPSCALE_BIN=${GROUPSCALE_BIN:-(unset: the binary test is skipped)}" >&2
exec "$py" -m pytest -q train/tests ${pytest_args[@]+"${pytest_args[@]}"}
