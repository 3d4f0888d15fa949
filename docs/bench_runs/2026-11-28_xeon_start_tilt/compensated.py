"""Scratch prototype: the accelerometer pull on the estimator's orientation compensated by the estimator's own
acceleration (its velocity change over the last N frames), val ATE per sequence. Variants: comp=N (0: off)."""
import sys, dataclasses
from pathlib import Path
import numpy as np
from arvr_hybrid_vio.core import strapdown
from arvr_hybrid_vio.core.model import learned_motion, motion_source
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
from arvr_hybrid_vio.core.geometry import so3_exp

CTX = {"rotation": None, "accel": None}
orig_tilt = strapdown.tilt_corrected

def tilt_corrected(rotation, pre, delta_rotation, *, rate_per_s, gravity_m_s2=strapdown.GRAVITY_M_S2, lean_rad=0.0, max_lean_rad=0.0):
    if CTX["accel"] is None or rotation is not CTX["rotation"]:
        return orig_tilt(rotation, pre, delta_rotation, rate_per_s=rate_per_s, gravity_m_s2=gravity_m_s2, lean_rad=lean_rad, max_lean_rad=max_lean_rad)
    if rate_per_s <= 0.0 or pre.dt_s <= 0.0 or (max_lean_rad > 0.0 and lean_rad > max_lean_rad):
        return delta_rotation
    measured_up = rotation @ pre.delta_velocity / pre.dt_s - CTX["accel"]
    norm = float(np.linalg.norm(measured_up))
    if abs(norm - gravity_m_s2) > 0.5:
        return delta_rotation
    up_x, up_y, _ = (measured_up / norm).tolist()
    correction = so3_exp(rate_per_s * pre.dt_s * np.array([up_y, -up_x, 0.0]))
    return rotation.T @ correction @ rotation @ delta_rotation

strapdown.tilt_corrected = tilt_corrected

def run(model, n, shard):
    est = VioEstimator.from_file(model, EstimatorConfig(device="cpu", torch_threads=1))
    history = []
    orig_step = est.step
    def step(frame, upcoming=()):
        nav = est._nav
        if nav is not None and n > 0 and len(history) > n:
            (t0, v0), (t1, v1) = history[-1 - n], history[-1]
            CTX["accel"] = (v1 - v0) / max((t1 - t0) * 1e-9, 1e-3)
            CTX["rotation"] = nav.rotation
        else:
            CTX["accel"] = None
        out = orig_step(frame, upcoming)
        if est._nav is not None:
            history.append((est._nav.stamp_ns, est._nav.velocity_xyz.copy()))
        return out
    est.step = step
    r = evaluate(ground_truth(shard), run_estimator(est, shard_frames(shard)), EvalConfig(align="se3", rpe_delta=1.0, rpe_unit="s"))
    return r

model = sys.argv[1]
ns = [int(x) for x in sys.argv[2].split(",")]
for path in sys.argv[3:]:
    shard = load_shard(Path(path))
    row = []
    for n in ns:
        r = run(model, n, shard)
        row.append(f"comp={n}:{100*r.ate.stats.rmse:6.2f}/{100*r.rpe.trans.rmse:5.2f} rot {r.rpe.rot.rmse:.3f}")
    print(f"{Path(path).stem:22s}", " | ".join(row), flush=True)
