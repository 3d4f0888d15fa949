"""Scratch: seconds from the estimator's initialisation to its first window velocity update, per sequence."""
import sys
from pathlib import Path
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.training.replay import shard_frames
for path in sys.argv[1:]:
    est = VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu"))
    frames = list(shard_frames(load_shard(Path(path))))
    first = None
    for i, f in enumerate(frames):
        est.step(f, frames[i + 1:i + 64])
        if first is None and est.counters["visual_velocity_updates"] > 0:
            first = (f.stamp_ns - est._initialised_ns) * 1e-9
            break
    print(f"{Path(path).stem:24s} first solve {first} s after init")
