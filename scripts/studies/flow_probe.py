"""Is the camera's translation in the tracks? A linear probe on the derotated flow summary.

    python scripts/studies/flow_probe.py --train A.npz,B.npz --test C.npz,D.npz

For every synced frame (the estimator's path: ``shard_frames``), tracks are extracted between
consecutive images exactly as the estimator does, derotated with the gyro preintegration, and
summarised by ``encoders.flow_summary`` (medians of dx, dy and x*dx + y*dy). A least-squares linear
map (with intercept) from the summary to the true translation of the camera between the frames
(camera axes of the earlier frame; x right, y down, z forward) is fitted on the training shards
and scored on the test shards: R^2 per axis (1 - SSE/SST; 0 is no better than the mean).
"""
import argparse

import numpy as np
import torch

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.model.encoders import flow_summary
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics, derotated, extract_tracks
from arvr_hybrid_vio.core.strapdown import preintegrate
from arvr_hybrid_vio.core.training.replay import shard_frames


def camera_pose(shard: dict, stamp_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """World rotation and position of the camera at the GT sample nearest ``stamp_ns``."""
    index = min(int(np.searchsorted(shard["gt_stamps_ns"], stamp_ns)), len(shard["gt_stamps_ns"]) - 1)
    body_rotation = quat_wxyz_to_matrix(shard["gt_quats_wxyz"][index])
    body_camera = shard["T_body_cam"]
    return body_rotation @ body_camera[:3, :3], shard["gt_positions_xyz"][index] + body_rotation @ body_camera[:3, 3]


def summaries(path: str, config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3) flow summaries and (F, 3) true camera translations of one shard."""
    shard = load_shard(path)
    intrinsics = Intrinsics(*config.intrinsics)
    features, targets, previous = [], [], None
    for frame in shard_frames(shard):
        if previous is not None:
            pre = preintegrate(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2)
            tracks = derotated(extract_tracks(previous.image, frame.image, intrinsics, config.tracks),
                               config.camera_rotation(pre.delta_rotation))
            if tracks[:, 5].sum() >= 8:
                rotation_a, position_a = camera_pose(shard, previous.stamp_ns)
                _, position_b = camera_pose(shard, frame.stamp_ns)
                features.append(flow_summary(torch.from_numpy(tracks)).numpy())
                targets.append(rotation_a.T @ (position_b - position_a))
        previous = frame
    return np.array(features), np.array(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="comma-separated shards to fit on")
    parser.add_argument("--test", required=True, help="comma-separated shards to score")
    args = parser.parse_args()
    config = ModelConfig()
    fitted = [summaries(path, config) for path in args.train.split(",")]
    design = lambda x: np.c_[x, np.ones(len(x))]  # noqa: E731
    weights, *_ = np.linalg.lstsq(design(np.concatenate([f for f, _ in fitted])),
                                  np.concatenate([t for _, t in fitted]), rcond=None)
    for path in args.test.split(","):
        features, targets = summaries(path, config)
        residual = design(features) @ weights - targets
        r2 = 1.0 - np.sum(residual ** 2, axis=0) / np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
        print(f"{path}: R2 camera x {r2[0]:.2f}, y {r2[1]:.2f}, z {r2[2]:.2f}; "
              f"RMS translation per frame {np.round(1e3 * targets.std(axis=0), 2)} mm")


if __name__ == "__main__":
    main()
