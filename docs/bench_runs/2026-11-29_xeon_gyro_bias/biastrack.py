"""Scratch: the gyro bias estimate over time against the truth (val), for a gain."""
import sys, dataclasses
from pathlib import Path
import numpy as np
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import shard_frames
model, gain = sys.argv[1], float(sys.argv[2])
for path in sys.argv[3:]:
    shard = dict(load_shard(Path(path)))
    if "NOAB" in sys.argv[0] or __import__("os").environ.get("NOAB"):
        shard["accel"] = np.asarray(shard["accel"]) - np.asarray(shard["accel_bias"])
    if __import__("os").environ.get("TRUEACC"):
        shard["accel"] = np.asarray(shard["accel_true"])
        shard["gyro"] = np.asarray(shard["gyro_true"]) + (0 if __import__("os").environ.get("NOGB") else np.asarray(shard["gyro_bias"]))
    cfg = EstimatorConfig(device="cpu", torch_threads=1)
    cfg = dataclasses.replace(cfg, gyro_bias_per_s=gain)
    est = VioEstimator.from_file(model, cfg)
    frames = list(shard_frames(shard))
    R = quat_wxyz_to_matrix(np.asarray(shard["gt_quats_wxyz"]))
    up_body = R[:, 2, :]  # world z in body axes
    print(Path(path).stem, "mean world-up in body:", np.round(up_body.mean(0), 2), "true bias mrad/s", np.round(np.asarray(shard["gyro_bias"]).mean(0) * 1e3, 2))
    t0 = frames[0].stamp_ns
    for i, f in enumerate(frames):
        est.step(f, frames[i + 1:i + 64])
        if i % 150 == 0:
            print(f"  {(f.stamp_ns - t0) * 1e-9:5.1f}s est {np.round(est.gyro_bias.bias_rad_s * 1e3, 2)}")
