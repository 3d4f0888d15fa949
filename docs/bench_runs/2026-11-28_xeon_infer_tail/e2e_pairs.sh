#!/bin/bash
source /work/main/.venv/bin/activate
cd /tmp
out=$1
for i in 1 2; do for v in base new; do
  if [ $v = base ]; then pp=/tmp/base; else pp=; fi
  echo "# $v pair $i $(date -u +%FT%TZ)" >> $out
  # /tmp/prof/e2e_split.py: a copy of docs/bench_runs/2026-11-28_xeon_infer_share/e2e_split.py
  PYTHONPATH=$pp timeout 300 python /tmp/prof/e2e_split.py >> $out 2>/tmp/prof/e2e_$v.err
done; done
echo "# end $(date -u +%FT%TZ)" >> $out
