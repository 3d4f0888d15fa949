"""Scratch: body-frame velocity error of the estimator's frame states against the truth, per 2 s block."""
import sys, dataclasses
from pathlib import Path
import numpy as np
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import shard_frames

model, spec = sys.argv[1], sys.argv[2]
for path in sys.argv[3:]:
    shard = load_shard(Path(path))
    cfg = EstimatorConfig(device="cpu", torch_threads=1)
    for part in spec.split("+"):
        if part == "lw": cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, level_window=True))
        if part.startswith("level="): cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, tilt_correction_per_s=float(part[6:])))
    est = VioEstimator.from_file(model, cfg)
    gs = np.asarray(shard["gt_stamps_ns"]); R_true = quat_wxyz_to_matrix(np.asarray(shard["gt_quats_wxyz"])); V = np.asarray(shard["gt_velocity_xyz"])
    rows = []
    for frame in shard_frames(shard):
        est.step(frame)
        nav = est.nav_state
        if nav is None: continue
        i = min(int(np.searchsorted(gs, nav.stamp_ns)), len(gs)-1)
        rows.append(((nav.stamp_ns - gs[0]) * 1e-9, np.linalg.norm(nav.rotation.T @ nav.velocity_xyz - R_true[i].T @ V[i]), np.linalg.norm(V[i])))
    rows = np.array(rows)
    out = []
    for b in range(0, int(rows[-1, 0]) + 1, 2):
        m = (rows[:, 0] >= b) & (rows[:, 0] < b + 2)
        if m.any(): out.append(f"{b}s:{np.sqrt(np.mean(rows[m,1]**2)):.3f}/{np.sqrt(np.mean(rows[m,2]**2)):.2f}")
    print(f"{Path(path).stem:20s} {spec:16s} err/speed", " ".join(out), flush=True)
