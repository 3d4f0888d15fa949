#!/bin/bash
# interleaved arvr-vio-infer pairs: base (/tmp/base worktree via PYTHONPATH) then new (the editable install), per bag
source /work/main/.venv/bin/activate
cd /tmp
out=$1; n=${2:-8}
echo "# $(date -u +%FT%TZ) start; host $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" >> $out
for bag in b20 b60; do
  for i in $(seq 1 $n); do
    for v in base new; do
      if [ $v = base ]; then pp=/tmp/base; else pp=; fi
      s=$(date +%s.%N)
      PYTHONPATH=$pp arvr-vio-infer /tmp/prof/$bag --model /work/main/models/hybrid.safetensors --out /tmp/prof/${bag}_$v.tum --config /work/main/config/vio_synthetic.yaml 2>/tmp/prof/${bag}_$v.err
      e=$(date +%s.%N)
      echo "$bag $i $v $(echo "$e - $s" | bc) $(grep -o 'tracks_offered_used=[0-9]*, tracks_computed=[0-9]*' /tmp/prof/${bag}_$v.err)" >> $out
    done
    cmp -s /tmp/prof/${bag}_base.tum /tmp/prof/${bag}_new.tum || echo "$bag $i TUM DIFFERS" >> $out
  done
done
echo "# $(date -u +%FT%TZ) end" >> $out
