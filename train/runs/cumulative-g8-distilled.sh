#!/usr/bin/env bash
# The G = 8 cumulative GroupAlexNet trained incrementally and distilled from
# the jointly trained cumulative G = 8 teacher (teacher-cumulative-g8.sh):
# stage 1 alone, then stages 2-8 as an ensemble of whole classifiers
# (--ensemble, docs/training.md) with the teacher's soft targets, stored once
# for the un-augmented images (--offline-teacher). Finishes
# the teacher first if needed; every step resumes from its checkpoint.
source "$(dirname "$0")/common.sh"
if [ ! -f "$out/teacher-cumulative-g8.teacher.pt" ]; then
    PYTHON=$py OUT=$out bash train/runs/teacher-cumulative-g8.sh
fi
kit train-cumulative-g8-distilled.log --variant cumulative --groups 8 --ensemble --epochs ${EPOCHS:-8} --threads ${THREADS:-1} \
    --offline-teacher \
    --teacher "$out/teacher-cumulative-g8.teacher.pt" \
    --out "$out/groupalexnet-cumulative-g8-distilled"
