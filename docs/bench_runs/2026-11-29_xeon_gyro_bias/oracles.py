"""Scratch diagnostic: what each error source costs on validation (true orientation / bias-free gyro / bias-free accel)."""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "/work/main/scripts/studies")
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
from oracle_orientation import with_true_orientation

model = sys.argv[1]
variants = sys.argv[2].split(",")
for path in sys.argv[3:]:
    base = load_shard(Path(path))
    row = []
    for v in variants:
        shard = dict(base)
        if "nogbias" in v and "nogbiash" not in v and "nogbiasv" not in v:
            shard["gyro"] = np.asarray(base["gyro"]) - np.asarray(base["gyro_bias"])
        if "nogbiash" in v or "nogbiasv" in v:
            from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
            R = quat_wxyz_to_matrix(np.asarray(base["gt_quats_wxyz"]))
            up = np.stack([np.interp(np.asarray(base["imu_stamps_ns"], dtype=float), np.asarray(base["gt_stamps_ns"], dtype=float), R[:, 2, k]) for k in range(3)], axis=1)
            up /= np.linalg.norm(up, axis=1, keepdims=True)
            b = np.asarray(base["gyro_bias"])
            vertical = np.sum(up * b, axis=1, keepdims=True) * up
            shard["gyro"] = np.asarray(base["gyro"]) - (b - vertical if "nogbiash" in v else vertical)
        if "noabias" in v:
            shard["accel"] = np.asarray(base["accel"]) - np.asarray(base["accel_bias"])
        if "truegyro" in v:
            shard["gyro"] = np.asarray(base["gyro_true"])
        if "trueaccel" in v:
            shard["accel"] = np.asarray(base["accel_true"])
        import dataclasses
        cfg = EstimatorConfig(device="cpu", torch_threads=1)
        for part in v.split("+"):
            if part.startswith("tilt="):
                cfg = dataclasses.replace(cfg, tilt_correction_per_s=float(part[5:]))
            if part.startswith("level="):
                cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, tilt_correction_per_s=float(part[6:])))
            if part.startswith("init="):
                T, R = map(float, part[5:].split("@"))
                cfg = dataclasses.replace(cfg, visual_velocity=dataclasses.replace(cfg.visual_velocity, initial_levelling_s=T, initial_tilt_correction_per_s=R))
            if part == "gbias":
                cfg = dataclasses.replace(cfg, static_gyro_bias=True)
            if part.startswith("vscale="):
                cfg = dataclasses.replace(cfg, velocity_measurement_scale=float(part[7:]))
            if part.startswith("gb="):
                cfg = dataclasses.replace(cfg, gyro_bias_per_s=float(part[3:]))
            if part.startswith("st="):
                cfg = dataclasses.replace(cfg, gyro_bias_static_std_rad_s=float(part[3:]))
            if part.startswith("gate="):
                cfg = dataclasses.replace(cfg, tilt_gate_deg=float(part[5:]))
        est = VioEstimator.from_file(model, cfg)
        if "tbe" in v.split("+"):
            est.gyro_bias.bias_rad_s = np.asarray(base["gyro_bias"]).mean(axis=0)
        if "trueR" in v:
            with_true_orientation(est, shard)
        r = evaluate(ground_truth(shard), run_estimator(est, shard_frames(shard)), EvalConfig(align="se3", rpe_delta=1.0, rpe_unit="s"))
        row.append(f"{v}:bias {np.round(est.gyro_bias.bias_rad_s*1e3,2)} true {np.round(np.asarray(base['gyro_bias'])[-1]*1e3,2)} " + f"{v}:{100*r.ate.stats.rmse:6.2f}/{100*r.rpe.trans.rmse:5.2f} rot {r.rpe.rot.rmse:.3f}")
    print(f"{Path(path).stem:22s}", " | ".join(row), flush=True)
