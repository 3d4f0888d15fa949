#!/bin/bash
# Rule 19 measures (a) and (b) on the trial models.
cd /work/main && source .venv/bin/activate
D=data_out/trial19
date -u > $D/eval_start.txt
arvr-vio-benchmark --dataset data_out/dataset --split val --models-dir $D/models --models hybrid,multihead --json $D/val_trial.json > $D/val_trial.txt 2>&1
python scripts/studies/sensor_variants.py --seeds 21 22 --motions head --rates 15 20 30 40 --models-dir $D/models --json $D/rates_head.json > $D/rates_head.log 2>&1 &
python scripts/studies/sensor_variants.py --seeds 21 22 --motions walking --rates 15 20 30 40 --models-dir $D/models --json $D/rates_walking.json > $D/rates_walking.log 2>&1
wait
date -u > $D/eval_end.txt
echo done
