#!/bin/bash
# Rule 22 adopted: validation of all five new models, then the five shipped, then the test split once.
cd /work/main && source .venv/bin/activate
D=data_out/trial22
while [ ! -f $D/train3_end.txt ]; do sleep 5; done
date -u > $D/final_start.txt
arvr-vio-benchmark --dataset data_out/dataset --split val --models-dir $D/models --json $D/val_all.json > $D/val_all.txt 2>&1
cp $D/models/*.safetensors models/
date -u > $D/test_start.txt
arvr-vio-benchmark --json $D/test.json > $D/test.txt 2>&1
date -u > $D/test_end.txt
