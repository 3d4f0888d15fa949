"""Does the GPU change the trajectory? ``arvr-vio-infer`` on one synthetic bag with ``--device cpu`` and
``--device cuda`` (the CUDA graph path, as shipped), both scored against the truth with the evaluation core.

Usage: python3 scripts/device/cuda_vs_cpu.py OUT_DIR [--duration 30] [--model models/hybrid.safetensors]
Prints the largest position difference between the two trajectories and each one's ATE / RPE-1s.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_trajectory_file
from arvr_hybrid_vio.io.sensor_bags import streams_from_sequence, write_sensor_bag
from arvr_hybrid_vio.tools.bench_estimator import synthetic_sequence


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--model", default="models/hybrid.safetensors")
    parser.add_argument("--devices", default="cpu,cuda", help="the two devices compared (cpu,cpu: a dry run)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sequence = synthetic_sequence(duration_s=args.duration, seed=5)
    bag = args.out / "cuda_vs_cpu_bag"
    write_sensor_bag(bag, streams_from_sequence(sequence))
    truth = Trajectory(np.asarray(sequence.imu_stamps_ns), np.asarray(sequence.gt_positions_xyz),
                       np.asarray(sequence.gt_quats_wxyz), source="truth")
    infer = Path(sys.executable).parent / "arvr-vio-infer"
    estimates = {}
    first, second = args.devices.split(",")
    for label, device in (("first", first), ("second", second)):
        tum = args.out / f"est_{label}_{device}.tum"
        done = subprocess.run([str(infer), str(bag), "--model", args.model, "--out", str(tum), "--device", device],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"arvr-vio-infer --device {device} failed:\n{done.stderr[-2000:]}")
            return 1
        estimates[label] = read_trajectory_file(tum)
        report = evaluate(truth, estimates[label], EvalConfig(align="se3", rpe_delta=1.0, rpe_unit="s"))
        print(f"{device:5s}: {len(estimates[label].stamps_ns)} poses, ATE {100 * report.ate.stats.rmse:.3f} cm, "
              f"RPE-1s {100 * report.rpe.trans.rmse:.3f} cm")
    a, b = estimates["first"], estimates["second"]
    same = np.array_equal(a.stamps_ns, b.stamps_ns)
    diff = np.abs(a.positions_xyz - b.positions_xyz).max() if same else float("nan")
    print(f"same stamps: {same}; largest position difference {second} vs {first}: {diff:.3e} m")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
