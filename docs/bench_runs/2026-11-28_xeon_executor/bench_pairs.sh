#!/bin/bash
# make bench of HEAD (/work/main) interleaved with ff2b05b (/tmp/old), two pairs; cwd /tmp
source /work/main/.venv/bin/activate
cd /tmp
o=/work/main/data_out/bench_ex
for i in 1 2; do for v in head base; do
  if [ $v = base ]; then pp=/tmp/old; else pp=; fi
  t=$(date -u +%H%M)
  PYTHONPATH=$pp timeout 590 arvr-vio-bench --json $o/bench_${v}_$t.json > $o/bench_${v}_$t.txt 2>$o/bench_${v}_$t.err
  echo "$v $t done $(date -u +%T)" >> $o/pairs.log
done; done
