#!/bin/bash
# Rule 22 adopted: LSTM-only, Transformer-only and the hard-rule hybrid with the same recipe, side by side.
cd /work/main && source .venv/bin/activate
D=data_out/trial22
date -u > $D/train3_start.txt
arvr-vio-train --config $D/train.yaml --model lstm > $D/train_lstm.log 2>&1 &
arvr-vio-train --config $D/train.yaml --model transformer > $D/train_transformer.log 2>&1 &
arvr-vio-train --config $D/train.yaml --model hybrid --fusion hard > $D/train_hybrid_hard.log 2>&1
wait
date -u > $D/train3_end.txt
