# Sourced by every script here: the repository root as working directory,
# the Python ($PYTHON, default target/train-venv/bin/python), the output
# directory ($OUT, default target/train), and `kit LOG ARGS...`, which runs
# `python -m groupscale_train ARGS...` appending its output to results/LOG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py=${PYTHON:-target/train-venv/bin/python}
out=${OUT:-target/train}
mkdir -p "$out" results
kit() {
    local log=$1
    shift
    "$py" -m groupscale_train "$@" >> "results/$log" 2>&1
}
