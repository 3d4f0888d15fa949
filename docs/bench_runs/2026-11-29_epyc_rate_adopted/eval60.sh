#!/bin/bash
# Rule 22's addendum: 60 Hz, every image vs thinned to 30 Hz (the default), the new models, seeds 25-28.
cd /work/main && source .venv/bin/activate
D=data_out/trial22
date -u > $D/eval60_start.txt
run() { python scripts/studies/sensor_variants.py --seeds 25 26 27 28 --motions $1 --rates 60 $2 --models-dir $D/models --json $D/r22_60_$3_$1.json > $D/r22_60_$3_$1.log 2>&1; }
(run head "" thinned; run head "--target-rate 0" every) &
(run walking "" thinned; run walking "--target-rate 0" every)
wait
date -u > $D/eval60_end.txt
python - > $D/compare60.txt <<'PY'
import json
D = "data_out/trial22"
print("Rule 22 addendum: 60 Hz camera, mean ATE cm over 8 sequences (head, walking x seeds 25-28), new models")
for mode in ("thinned", "every"):
    rows = [r for m in ("head", "walking") for r in json.load(open(f"{D}/r22_60_{mode}_{m}.json"))]
    assert len(rows) == 8
    print(mode, " ".join(f"{k} {sum(r[k + '_ate_cm'] for r in rows) / 8:.3f}" for k in ("hybrid", "multihead", "imu-only")))
PY
cat $D/compare60.txt
