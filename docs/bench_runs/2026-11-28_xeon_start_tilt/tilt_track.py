"""Scratch: tilt error (deg) of the estimator's orientation against the truth, over time."""
import sys, dataclasses
from pathlib import Path
import numpy as np
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import run_estimator, shard_frames

model = sys.argv[1]
spec = sys.argv[2]
for path in sys.argv[3:]:
    shard = load_shard(Path(path))
    cfg = EstimatorConfig(device="cpu", torch_threads=1)
    for part in spec.split("+"):
        if part.startswith("tilt="): cfg = dataclasses.replace(cfg, tilt_correction_per_s=float(part[5:]))
        if part == "lw": cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, level_window=True))
        if part.startswith("level="): cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, tilt_correction_per_s=float(part[6:])))
    if "trueimu" in spec:
        shard = dict(shard); shard["gyro"] = shard["gyro_true"]; shard["accel"] = shard["accel_true"]
    est = VioEstimator.from_file(model, cfg)
    traj = run_estimator(est, shard_frames(shard))
    gs = np.asarray(shard["gt_stamps_ns"]); R_true = quat_wxyz_to_matrix(np.asarray(shard["gt_quats_wxyz"]))
    idx = np.clip(np.searchsorted(gs, traj.stamps_ns), 0, len(gs)-1)
    R_est = quat_wxyz_to_matrix(traj.quats_wxyz)
    up_est = R_est[:, 2, :]  # body-frame world-up: row 2 of R (world<-body)
    up_true = R_true[idx, 2, :]
    tilt = np.degrees(np.arccos(np.clip(np.sum(up_est*up_true, 1), -1, 1)))
    t = (traj.stamps_ns - traj.stamps_ns[0]) * 1e-9
    marks = [0, 1, 2, 5, 10, 15, 20, 25]
    s = " ".join(f"{m}s:{tilt[min(np.searchsorted(t, m), len(t)-1)]:.2f}" for m in marks if m <= t[-1])
    print(f"{Path(path).stem:22s} {spec:28s} tilt deg  rms {np.sqrt(np.mean(tilt**2)):.2f} | {s}", flush=True)
