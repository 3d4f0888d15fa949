#!/bin/bash
# interleaved: variants given as "name:LA:LV:envassign"
source /work/main/.venv/bin/activate
cd /tmp
out=$2
n=$1; shift 2
echo "# $(date -u +%FT%TZ) start" >> $out
for i in $(seq 1 $n); do
  for v in "$@"; do
    IFS=: read name la lv envs <<< "$v"
    s=$(date +%s.%N)
    env $envs LA=$la LV=$lv T0=$s python /tmp/prof/timeline.py /tmp/prof/b20 --model /work/main/models/hybrid.safetensors --out /tmp/prof/g.tum --config /work/main/config/vio_synthetic.yaml 2>/tmp/prof/g.err
    e=$(date +%s.%N)
    cmp -s /tmp/prof/g.tum /tmp/prof/b20_base.tum && same=same || same=DIFF
    echo "$name $(echo "$e - $s" | bc) $same $(grep -o 'tracks_computed=[0-9]*' /tmp/prof/g.err) $(grep 'TL main-end' /tmp/prof/g.err)" >> $out
  done
done
echo "# $(date -u +%FT%TZ) end" >> $out
