#!/usr/bin/env bash
# The G = 4 isolated GroupAlexNet (the paper's block-diagonal groups at the
# shipped width) trained incrementally as an ensemble of whole classifiers
# (--ensemble, docs/training.md): each quarter-width group a classifier of its
# own, the k = s loss on the groups' average logits. No teacher. Resumes
# after the last finished stage when run again.
source "$(dirname "$0")/common.sh"
kit train-isolated-g4-ensemble.log --variant isolated --groups 4 --ensemble --epochs ${EPOCHS:-8} --threads ${THREADS:-2} \
    --progress off --out "$out/groupalexnet-isolated-g4-ensemble"
