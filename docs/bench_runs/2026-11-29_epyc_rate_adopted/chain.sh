#!/bin/bash
cd /work/main
while pgrep -f "cache-only" > /dev/null; do sleep 5; done
data_out/trial22/train.sh
data_out/trial22/eval.sh
