#!/usr/bin/env bash
# The G = 8 cumulative GroupAlexNet as an ensemble (--ensemble,
# docs/training.md): group s reads the features of groups <= s, so unlike the
# isolated groups it is not capped at what an eighth-width network learns
# alone. No teacher: the isolated G = 4 teacher (91.3 %) is below the target.
# Resumes from its checkpoint when run again.
source "$(dirname "$0")/common.sh"
kit train-cumulative-g8-ensemble.log --variant cumulative --groups 8 --ensemble --epochs ${EPOCHS:-8} --threads 1 \
    --out "$out/groupalexnet-cumulative-g8-ensemble"
