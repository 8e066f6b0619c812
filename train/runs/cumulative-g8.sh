#!/usr/bin/env bash
# The G = 8 cumulative GroupAlexNet as an ensemble (--ensemble,
# docs/training.md): group s reads the features of groups <= s, so unlike the
# isolated groups it is not capped at what an eighth-width network learns
# alone. No teacher: the isolated G = 4 teacher (91.3 %) is below the target.
# Resumes from its checkpoint when run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-target/train-venv/bin/python}
out=${OUT:-target/train}
mkdir -p "$out" results
$py -m groupscale_train --variant cumulative --groups 8 --ensemble --epochs ${EPOCHS:-8} --threads 1 \
    --out "$out/groupalexnet-cumulative-g8-ensemble" >> results/train-cumulative-g8-ensemble.log 2>&1
