#!/usr/bin/env bash
# A jointly trained G = 8 cumulative GroupAlexNet (k = G loss only): the
# near-dense ceiling of the architecture on this data, and the teacher for
# distilling the incremental stages. Resumes epoch by epoch from
# $OUT/teacher-cumulative-g8.teacher-ckpt.pt.
source "$(dirname "$0")/common.sh"
kit train-teacher-cumulative-g8.log --variant cumulative --groups 8 --joint --epochs ${EPOCHS:-12} --threads 1 \
    --out "$out/teacher-cumulative-g8"
