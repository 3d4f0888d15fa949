"""How much of the true speed the estimator and its camera window recover (a diagnostic).

    python scripts/studies/speed_gain.py SHARD.npz [SHARD.npz ...] [--model models/hybrid.safetensors|imu-only]

Replays each shard through the estimator as shipped and prints two things:

* the camera window's velocity measurements against the true velocity at the same instant: the
  least-squares gain of the measured speed on the true speed (1: unbiased, < 1: shrunk), the RMS
  speed error, the median reported sigma and the RMS of the error over that sigma (z; 1: calibrated);
* the estimator's output: per 5 s block, the median ratio of the estimated to the true distance
  travelled in 1 s (30 frames), which is what the fused velocity makes of it.

Speeds, not velocities, are compared, so the estimator's own yaw (it starts at 0) does not matter.
"""
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
from study_arguments import parse_study_arguments

FRAMES_PER_SECOND = 30
BLOCK_S = 5


def recording_window(estimator: VioEstimator, records: list) -> None:
    """Record (interval start stamp, velocity, sigma) of every window measurement (in place)."""
    own = estimator._visual_measurement

    def measurement(frame, state, pre, *rest):
        result = own(frame, state, pre, *rest)
        if result is not None:
            start_ns = int(frame.stamp_ns) - int(round(pre.dt_s * 1e9))
            records.append((start_ns, result.velocity_xyz.copy(), float(np.sqrt(np.trace(result.covariance) / 3))))
        return result

    estimator._visual_measurement = measurement


def window_line(shard: dict, records: list) -> str:
    stamps, velocities = np.asarray(shard["gt_stamps_ns"]), np.asarray(shard["gt_velocity_xyz"])
    starts = np.array([r[0] for r in records])
    measured = np.linalg.norm(np.array([r[1] for r in records]), axis=1)
    sigma = np.array([r[2] for r in records])
    true = np.linalg.norm(velocities[np.clip(np.searchsorted(stamps, starts), 0, len(stamps) - 1)], axis=1)
    gain = float(measured @ true / (true @ true))
    return (f"window: {len(records)} solves, true speed {100 * true.mean():.1f} cm/s, measured {100 * measured.mean():.1f}"
            f" cm/s, gain {gain:.2f}, error RMS {100 * np.sqrt(np.mean((measured - true) ** 2)):.1f} cm/s, sigma median "
            f"{100 * np.median(sigma):.1f} cm/s, z RMS {np.sqrt(np.mean(((measured - true) / sigma) ** 2)):.1f}")


def output_line(shard: dict, trajectory) -> str:
    truth = ground_truth(shard)
    nearest = np.clip(np.searchsorted(truth.stamps_ns, trajectory.stamps_ns), 0, len(truth) - 1)
    estimated, true = trajectory.positions_xyz, truth.positions_xyz[nearest]
    times = (trajectory.stamps_ns - trajectory.stamps_ns[0]) * 1e-9
    ratios = []
    for block in range(0, int(times[-1]) - BLOCK_S + 1, BLOCK_S):
        rows = np.flatnonzero((times >= block) & (times < block + BLOCK_S))[FRAMES_PER_SECOND:]
        moved_true = np.linalg.norm(true[rows] - true[rows - FRAMES_PER_SECOND], axis=1)
        moved = np.linalg.norm(estimated[rows] - estimated[rows - FRAMES_PER_SECOND], axis=1)
        ratios.append(float(np.median(moved / np.maximum(moved_true, 1e-3))))
    return "estimate / truth, distance in 1 s, per 5 s block: " + " ".join(f"{r:.2f}" for r in ratios)


def main() -> None:
    args = parse_study_arguments(__doc__)
    for path in args.shards:
        shard = load_shard(Path(path))
        estimator = VioEstimator.from_file(args.model, EstimatorConfig(device="cpu", torch_threads=1))
        records: list = []
        recording_window(estimator, records)
        trajectory = run_estimator(estimator, shard_frames(shard))
        print(f"{Path(path).stem} ({args.model})\n  {window_line(shard, records)}\n  {output_line(shard, trajectory)}")


if __name__ == "__main__":
    main()
