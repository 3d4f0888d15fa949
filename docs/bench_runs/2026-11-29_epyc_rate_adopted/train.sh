#!/bin/bash
# Rule 22: hybrid and Multi-Head side by side with rule 19's recipe.
cd /work/main && source .venv/bin/activate
D=data_out/trial22
date -u > $D/train_start.txt
arvr-vio-train --config $D/train.yaml --model hybrid > $D/train_hybrid.log 2>&1 &
arvr-vio-train --config $D/train.yaml --model multihead > $D/train_multihead.log 2>&1
wait
date -u > $D/train_end.txt
