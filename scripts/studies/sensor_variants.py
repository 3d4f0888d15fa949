"""How the shipped models fare on sensors other than the training rig's (a study): camera rate, image size,
field of view, IMU rate, an uncorrected camera-IMU time offset, dropped images, camera stamp jitter.

    python scripts/studies/sensor_variants.py [--variants base rate=60 size=320x256,hfov=70 ...]
        [--motions head walking] [--seeds 21] [--duration 30] [--target-rate HZ] [--stamp-smoothing]
        [--json OUT.json]
    python scripts/studies/sensor_variants.py --rates 15 20 30 60     (shorthand for --variants rate=15 ...)

A variant is ``key=value`` pairs joined by commas, each changing the training rig (160x128, 90 deg, 30 Hz
camera; 200 Hz IMU): ``rate`` (camera Hz), ``size`` (WxH px), ``hfov`` (deg), ``imu`` (IMU Hz), ``offset_ms``
(camera stamps minus exposure times, left uncorrected), ``drop`` (each image lost with this probability),
``jitter_ms`` (each camera stamp moved by a uniform draw within +- this); ``base`` changes nothing. Each motion is rendered per
variant with the same seed (the same motion; the IMU's noise draw may differ with its rate), and replayed
through the SyncBuffer (``--target-rate``: its ``target_frame_rate_hz``, to which a faster camera is thinned;
0 keeps every image; default as shipped) and the estimator as shipped (``run_estimator``, the path of
``arvr-vio-infer``), with the rig camera set from the render's calibration and mount, as a CameraInfo and
``vio.T_base_camera`` would set it. It prints the SE(3)-aligned ATE and RPE-1s translation of the hybrid,
the Multi-Head and the learning-free ``imu-only`` (strapdown + the camera window's velocity). The sequences
are procedural and rendered here, so none was seen in training (the training recipe's seeds are others).
(Named ``camera_rate.py`` for its first runs, ``docs/bench_runs/2026-11-29_xeon_camera_rate/``, which
did not set the rig camera: the same thing at the training camera's size and field of view.)
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.model.camera_input import CameraModel
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.synth.camera import CameraConfig
from arvr_hybrid_vio.core.synth.imu import ImuConfig
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.core.trajectory import Trajectory

ROOT = Path(__file__).resolve().parents[2]


def models_in(models_dir: Path) -> dict[str, str]:
    """The compared models: the hybrid and Multi-Head files of ``models_dir``, and ``imu-only``."""
    return {"hybrid": str(models_dir / "hybrid.safetensors"), "multihead": str(models_dir / "multihead.safetensors"),
            "imu-only": IMU_ONLY}


def synth_config(variant: str, motion: str, duration_s: float) -> SynthConfig:
    """The training rig changed as ``variant`` says (see the module docstring; ``drop`` and ``jitter_ms`` act on
    the stream, ``stream_faults``)."""
    camera, imu, offset_s = CameraConfig(), ImuConfig(), 0.0
    for item in ([] if variant == "base" else variant.split(",")):
        key, value = item.split("=")
        if key == "rate":
            camera = dataclasses.replace(camera, rate_hz=float(value))
        elif key == "size":
            width, height = (int(v) for v in value.lower().split("x"))
            camera = dataclasses.replace(camera, width=width, height=height)
        elif key == "hfov":
            camera = dataclasses.replace(camera, hfov_deg=float(value))
        elif key == "imu":
            imu = dataclasses.replace(imu, rate_hz=float(value))
        elif key == "offset_ms":
            offset_s = float(value) * 1e-3
        elif key not in STREAM_FAULTS:
            raise SystemExit(f"unknown variant key {key!r} in {variant!r}")
    return SynthConfig(motion=MotionConfig(motion=motion, duration_s=duration_s), camera=camera, imu=imu,
                       time_offset_s=offset_s)


STREAM_FAULTS = ("drop", "jitter_ms")


def stream_faults(variant: str, sequence: object, seed: int) -> tuple[np.ndarray, object]:
    """The camera stamps with ``jitter_ms`` applied, and the images ``drop`` leaves (a ``keep_image`` filter)."""
    settings = dict(item.split("=") for item in ([] if variant == "base" else variant.split(",")))
    rng = np.random.default_rng(1000 + seed)
    stamps = np.asarray(sequence.image_stamps_ns, dtype=np.int64)
    jitter_ns = float(settings.get("jitter_ms", 0.0)) * 1e6
    stamps = stamps + np.round(rng.uniform(-jitter_ns, jitter_ns, len(stamps))).astype(np.int64)
    lost = rng.random(len(stamps)) < float(settings.get("drop", 0.0))
    lost[:2] = False
    return stamps, (lambda index: not lost[index])


def rig_camera(sequence: object) -> CameraModel:
    """The render's camera as a CameraInfo and the rig's extrinsics would give it."""
    k, mount = np.asarray(sequence.intrinsics), np.asarray(sequence.T_body_cam)
    width, height = sequence.images[0].shape[1], sequence.images[0].shape[0]
    distortion = tuple(float(v) for v in sequence.distortion) if np.any(sequence.distortion) else ()
    return CameraModel(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                       distortion, tuple(float(v) for v in mount[:3, :3].reshape(9)),
                       t_imu_camera=tuple(float(v) for v in mount[:3, 3]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["base"])
    parser.add_argument("--rates", type=float, nargs="+", help="shorthand for --variants rate=R ...")
    parser.add_argument("--motions", nargs="+", default=["head", "walking"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[21])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--target-rate", type=float, default=SyncConfig().target_frame_rate_hz,
                        help="sync.target_frame_rate_hz (0: every image)")
    parser.add_argument("--stamp-smoothing", action="store_true", help="sync.camera_stamp_smoothing on")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models",
                        help="folder with hybrid.safetensors and multihead.safetensors (default: the shipped ones)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    models = models_in(args.models_dir)
    variants = [f"rate={rate:g}" for rate in args.rates] if args.rates else args.variants
    sync = SyncConfig(target_frame_rate_hz=args.target_rate, camera_stamp_smoothing=args.stamp_smoothing)
    print(f"sync.target_frame_rate_hz {args.target_rate:g}, camera_stamp_smoothing {args.stamp_smoothing}", flush=True)
    rows = []
    for motion in args.motions:
        for seed in args.seeds:
            for variant in variants:
                started = time.monotonic()
                sequence = generate_sequence(synth_config(variant, motion, args.duration), seed)
                truth = Trajectory(sequence.imu_stamps_ns, sequence.gt_positions_xyz, sequence.gt_quats_wxyz,
                                   source="ground truth")
                row = {"motion": motion, "seed": seed, "variant": variant, "models_dir": str(args.models_dir),
                       "target_frame_rate_hz": args.target_rate,
                       "camera_stamp_smoothing": args.stamp_smoothing}
                image_stamps_ns, keep_image = stream_faults(variant, sequence, seed)
                for name, model in models.items():
                    estimator = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
                    estimator.set_camera(rig_camera(sequence))
                    estimate = run_estimator(estimator, synced_frames(
                        image_stamps_ns, sequence.images, sequence.imu_stamps_ns, sequence.gyro,
                        sequence.accel, config=sync, keep_image=keep_image))
                    report = evaluate(truth, estimate, EvalConfig()).to_dict()
                    row[f"{name}_ate_cm"] = 100.0 * report["ate_rmse_m"]
                    row[f"{name}_rpe_cm"] = 100.0 * report["rpe_trans_rmse_m"]
                rows.append(row)
                print(f"{motion:8s} seed {seed} {variant:20s} ATE cm: hybrid {row['hybrid_ate_cm']:6.2f}  "
                      f"Multi-Head {row['multihead_ate_cm']:6.2f}  imu-only {row['imu-only_ate_cm']:6.2f}  |  "
                      f"RPE-1s cm: {row['hybrid_rpe_cm']:5.2f} / {row['multihead_rpe_cm']:5.2f} / "
                      f"{row['imu-only_rpe_cm']:5.2f}  ({time.monotonic() - started:.0f} s)", flush=True)
    print("\nmean ATE cm over motions and seeds")
    for variant in variants:
        chosen = [row for row in rows if row["variant"] == variant]
        means = {name: float(np.mean([row[f"{name}_ate_cm"] for row in chosen])) for name in models}
        print(f"{variant:20s} " + "  ".join(f"{name} {value:6.2f}" for name, value in means.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
