#!/bin/bash
# Rule 22 measures (a) and (b): validation of the new models; the rate study on seeds 25-28 for shipped and new.
cd /work/main && source .venv/bin/activate
D=data_out/trial22
date -u > $D/eval_start.txt
arvr-vio-benchmark --dataset data_out/dataset --split val --models-dir $D/models --models hybrid,multihead --json $D/val_trial.json > $D/val_trial.txt 2>&1
run() { python scripts/studies/sensor_variants.py --seeds 25 26 27 28 --motions $2 --rates 15 20 30 40 --models-dir $1 --json $D/$3_$2.json > $D/$3_$2.log 2>&1; }
(run models head shipped; run $D/models head r22) &
(run models walking shipped; run $D/models walking r22)
wait
date -u > $D/eval_end.txt
python $D/compile.py > $D/compare.txt
echo done
