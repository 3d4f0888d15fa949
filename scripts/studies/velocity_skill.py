"""How much of the true velocity the network predicts, before and after the estimator's fusion.

    python scripts/studies/velocity_skill.py [--model models/hybrid.safetensors] SHARD.npz [...]

Replays each shard through the estimator (the node's path) and compares, per frame, the network's
body-frame velocity at the interval start (``LearnedMotion.network_velocity``) and the estimator's
fused velocity at the frame with the ground truth: RMS error, RMS true speed and R^2 (1 - SSE/SST
over the three axes; 0 is no better than predicting the mean velocity), and per body axis the
gain, the least-squares slope of predicted on true velocity (1: the right scale; a gain that changes
from sequence to sequence is a scale error, such as flow read with the wrong scene depth). For the
network also its consistency: the median over frames of the squared error over the network's own
variance, per axis (about 0.79 for a calibrated Gaussian: the median of chi-squared with 3 degrees of
freedom, 2.37, over 3; well above it: overconfident, well below: underconfident).
"""

import numpy as np

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import shard_frames
from study_arguments import parse_study_arguments


def body_velocity(shard: dict, stamp_ns: int) -> np.ndarray:
    index = min(int(np.searchsorted(shard["gt_stamps_ns"], stamp_ns)), len(shard["gt_stamps_ns"]) - 1)
    return quat_wxyz_to_matrix(shard["gt_quats_wxyz"][index]).T @ shard["gt_velocity_xyz"][index]


def skill(predicted: np.ndarray, truth: np.ndarray) -> str:
    rms_error = np.sqrt(np.mean(np.sum((predicted - truth) ** 2, axis=1)))
    rms_speed = np.sqrt(np.mean(np.sum(truth ** 2, axis=1)))
    r2 = 1.0 - np.sum((predicted - truth) ** 2) / np.sum((truth - truth.mean(axis=0)) ** 2)
    gains = np.sum(predicted * truth, axis=0) / np.sum(truth * truth, axis=0)  # (3,) body x, y, z
    return (f"RMS error {100 * rms_error:5.1f} cm/s of RMS speed {100 * rms_speed:5.1f} cm/s, R2 {r2:5.2f}, "
            f"gain x/y/z {gains[0]:5.2f} {gains[1]:5.2f} {gains[2]:5.2f}")


def consistency(predicted: np.ndarray, truth: np.ndarray, std: np.ndarray) -> str:
    """Median over frames of the per-axis normalised squared error. Shape: (F, 3) each."""
    return f", error^2 / variance per axis: median {np.median(np.mean(((predicted - truth) / std) ** 2, axis=1)):5.2f}"


def main() -> None:
    args = parse_study_arguments(__doc__)
    for path in args.shards:
        shard = load_shard(path)
        estimator = VioEstimator.from_file(args.model, EstimatorConfig(device="cpu"))
        rows = []
        for frame in shard_frames(shard):
            if estimator.step(frame) is None or estimator.source.network_velocity is None:
                continue
            velocity, std = estimator.source.network_velocity
            nav = estimator.nav_state
            rows.append(np.concatenate([velocity, body_velocity(shard, int(frame.imu_stamps_ns[0])),
                                        nav.rotation.T @ nav.velocity_xyz, body_velocity(shard, nav.stamp_ns), std]))
        table = np.array(rows)
        network = skill(table[:, 0:3], table[:, 3:6]) + consistency(table[:, 0:3], table[:, 3:6], table[:, 12:15])
        print(f"{path}\n  network: {network}\n  fused:   {skill(table[:, 6:9], table[:, 9:12])}")


if __name__ == "__main__":
    main()
