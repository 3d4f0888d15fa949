#!/bin/bash
cd /work/main && source .venv/bin/activate
W=data_out/wide
run() { python scripts/studies/sensor_variants.py --seeds 23 24 --motions $2 --rates 15 20 30 40 --models-dir $1 --json $W/$3_$2.json > $W/$3_$2.log 2>&1; }
(run models head shipped; run data_out/trial19/models head r19; run data_out/trial20/models head r20) &
(run models walking shipped; run data_out/trial19/models walking r19; run data_out/trial20/models walking r20)
wait
echo done
