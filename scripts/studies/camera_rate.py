"""How the shipped models fare at camera rates other than the 30 Hz they were trained at (a study).

    python scripts/studies/camera_rate.py [--rates 15 20 30 60] [--motions head walking] [--seeds 21]
        [--duration 30] [--target-rate HZ] [--json OUT.json]

Renders each motion at each camera rate with the same seed (the same motion and IMU stream; only the
camera's sampling differs), replays it through the SyncBuffer (``--target-rate``: its
``target_frame_rate_hz``, to which a faster camera is thinned; 0 keeps every image; default as shipped) and
the estimator as shipped (``run_estimator``, the path of ``arvr-vio-infer``) with the hybrid, the Multi-Head and the learning-free ``imu-only`` (strapdown +
the camera window's velocity), and prints the SE(3)-aligned ATE and RPE-1s translation of each. The
sequences are procedural and rendered here, so none was seen in training (the training recipe's seeds
are others).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.core.trajectory import Trajectory

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"hybrid": str(ROOT / "models" / "hybrid.safetensors"),
          "multihead": str(ROOT / "models" / "multihead.safetensors"), "imu-only": IMU_ONLY}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[15.0, 20.0, 30.0, 60.0])
    parser.add_argument("--motions", nargs="+", default=["head", "walking"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[21])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--target-rate", type=float, default=SyncConfig().target_frame_rate_hz,
                        help="sync.target_frame_rate_hz (0: every image)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    sync = SyncConfig(target_frame_rate_hz=args.target_rate)
    print(f"sync.target_frame_rate_hz {args.target_rate:g}", flush=True)
    rows = []
    for motion in args.motions:
        for seed in args.seeds:
            for rate in args.rates:
                started = time.monotonic()
                sequence = generate_sequence(SynthConfig(motion=MotionConfig(motion=motion, duration_s=args.duration),
                                                         camera=CameraConfig(rate_hz=rate)), seed)
                truth = Trajectory(sequence.imu_stamps_ns, sequence.gt_positions_xyz, sequence.gt_quats_wxyz,
                                   source="ground truth")
                row = {"motion": motion, "seed": seed, "rate_hz": rate, "target_frame_rate_hz": args.target_rate}
                for name, model in MODELS.items():
                    estimator = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
                    estimate = run_estimator(estimator, synced_frames(
                        sequence.image_stamps_ns, sequence.images, sequence.imu_stamps_ns, sequence.gyro,
                        sequence.accel, config=sync))
                    report = evaluate(truth, estimate, EvalConfig()).to_dict()
                    row[f"{name}_ate_cm"] = 100.0 * report["ate_rmse_m"]
                    row[f"{name}_rpe_cm"] = 100.0 * report["rpe_trans_rmse_m"]
                rows.append(row)
                print(f"{motion:8s} seed {seed} {rate:5.1f} Hz  ATE cm: hybrid {row['hybrid_ate_cm']:6.2f}  "
                      f"Multi-Head {row['multihead_ate_cm']:6.2f}  imu-only {row['imu-only_ate_cm']:6.2f}  |  "
                      f"RPE-1s cm: {row['hybrid_rpe_cm']:5.2f} / {row['multihead_rpe_cm']:5.2f} / "
                      f"{row['imu-only_rpe_cm']:5.2f}  ({time.monotonic() - started:.0f} s)", flush=True)
    print("\nmean ATE cm over motions and seeds")
    for rate in args.rates:
        chosen = [row for row in rows if row["rate_hz"] == rate]
        means = {name: float(np.mean([row[f"{name}_ate_cm"] for row in chosen])) for name in MODELS}
        print(f"{rate:5.1f} Hz: " + "  ".join(f"{name} {value:6.2f}" for name, value in means.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
