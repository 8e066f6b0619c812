#!/usr/bin/env bash
# The G = 8 isolated GroupAlexNet: a jointly trained G = 4 teacher, then the
# incremental stages, stage 1 alone and stages 2-8 as an ensemble of whole
# classifiers (--ensemble, docs/training.md) distilling from the teacher.
# Teacher and stage 1 run side by side, one thread each; both resume from
# their checkpoints when run again.
source "$(dirname "$0")/common.sh"
common=(--variant isolated --epochs ${EPOCHS:-8} --threads 1)
if [ ! -f "$out/teacher-isolated-g4.teacher.pt" ]; then
    # Resumes from teacher-isolated-g4.teacher-ckpt.pt when it is there.
    $py train/train.py --variant isolated --groups 4 --joint --epochs ${TEACHER_EPOCHS:-12} --threads 1 \
        --out "$out/teacher-isolated-g4" >> results/train-teacher-isolated-g4.log 2>&1 &
    teacher=$!
fi
$py train/train.py "${common[@]}" --groups 8 --out "$out/groupalexnet-isolated-g8" \
    --stop-after-stage 1 >> results/train-isolated-g8.log 2>&1
if [ -n "${teacher:-}" ]; then
    wait "$teacher" || { echo "the teacher failed; see results/train-teacher-isolated-g4.log" >&2; exit 1; }
fi
$py train/train.py "${common[@]}" --groups 8 --out "$out/groupalexnet-isolated-g8" --ensemble \
    --teacher "$out/teacher-isolated-g4.teacher.pt" >> results/train-isolated-g8.log 2>&1
