#!/usr/bin/env bash
# The G = 4 isolated GroupAlexNet trained jointly on the loss at every k
# (--nested, docs/training.md): the G = 8 nested model was flat from half
# width on, and its whole network has half the weights of G = 4's (eight
# diagonal blocks instead of four). Resumes epoch by epoch when run again.
source "$(dirname "$0")/common.sh"
kit train-isolated-g4-nested.log --variant isolated --groups 4 --nested --epochs ${EPOCHS:-20} --threads ${THREADS:-2} \
    --progress off --out "$out/groupalexnet-isolated-g4-nested"
