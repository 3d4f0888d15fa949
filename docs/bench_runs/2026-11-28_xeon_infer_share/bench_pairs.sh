#!/bin/bash
source /work/main/.venv/bin/activate
cd /tmp
d=/work/main/data_out/bench_share
for i in 1 2; do
  for v in base new; do
    if [ $v = base ]; then pp=/tmp/base; else pp=; fi
    t=$(date -u +%H%M)
    PYTHONPATH=$pp arvr-vio-bench --json $d/bench_${v}_$t.json > $d/bench_${v}_$t.txt 2> $d/bench_${v}_$t.err
    echo "$v $t rc=$?" >> $d/bench_pairs.log
  done
done
echo done >> $d/bench_pairs.log
