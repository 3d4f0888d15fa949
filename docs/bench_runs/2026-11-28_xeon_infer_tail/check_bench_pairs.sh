#!/bin/bash
source /work/main/.venv/bin/activate
cd /tmp
o=/work/main/data_out/bench_la
for i in 1 2; do for v in base head; do
  if [ $v = base ]; then pp=/tmp/base; else pp=; fi
  t=$(date -u +%H%M)
  PYTHONPATH=$pp timeout 590 arvr-vio-bench --json $o/check_${v}_$t.json > $o/check_${v}_$t.txt 2>$o/check_${v}_$t.err
  echo "$v $t done $(date -u +%T)" >> $o/check_pairs.log
done; done
