"""Replay recorded sequences through the same sync buffer and estimator the node uses.

``synced_frames`` pushes a sequence's images and IMU samples into a
:class:`SyncBuffer` in stamp order (IMU first on ties, as a bag in log-time order
delivers them) and yields the synced frames; ``run_estimator`` feeds them to a
:class:`VioEstimator`, telling it the frames it already holds ahead (so a learned source
runs its network over many frames in one pass), and collects the pose estimates into a
:class:`Trajectory`. Validation during training, the benchmark and the offline tools share
this path.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from arvr_hybrid_vio.core.estimator import VioEstimator
from arvr_hybrid_vio.core.model.motion_source import LOOKAHEAD_FRAMES
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer, SyncConfig
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.types import PoseEstimate, SyncedFrame


def synced_frames(image_stamps_ns: np.ndarray, images: np.ndarray, imu_stamps_ns: np.ndarray,
                  gyro: np.ndarray, accel: np.ndarray, *, config: SyncConfig | None = None,
                  keep_image: Callable[[int], bool] | None = None) -> Iterator[SyncedFrame]:
    """Synced frames of a recorded sequence, in order.

    Args:
        image_stamps_ns: (F,) camera stamps; images: (F, H, W) uint8.
        imu_stamps_ns: (M,) IMU stamps; gyro, accel: (M, 3).
        config: sync settings (e.g. a time offset); defaults otherwise.
        keep_image: optional filter on image indices (False drops that image, e.g. to simulate
            dropped frames).
    """
    buffer = SyncBuffer(config or SyncConfig())
    def rows(stamps: np.ndarray, kind: int) -> np.ndarray:
        """(N, 3) int64 rows of (stamp, kind, index)."""
        return np.stack([stamps, np.full_like(stamps, kind), np.arange(len(stamps))], axis=1)

    events = np.concatenate([rows(np.asarray(imu_stamps_ns, np.int64), 0),
                             rows(np.asarray(image_stamps_ns, np.int64), 1)])
    order = np.lexsort((events[:, 1], events[:, 0]))  # by stamp, IMU (0) before image (1)
    for stamp, kind, index in events[order]:
        if kind == 0:
            buffer.push_imu(int(stamp), gyro[index], accel[index])
        elif keep_image is None or keep_image(int(index)):
            buffer.push_image(int(stamp), images[index])
        while (frame := buffer.pop_synced()) is not None:
            yield frame


def shard_frames(shard: dict[str, Any], **kwargs: Any) -> Iterator[SyncedFrame]:
    """Synced frames of a loaded shard (``core.dataset.load_shard``)."""
    return synced_frames(shard["image_stamps_ns"], shard["images"], shard["imu_stamps_ns"], shard["gyro"],
                         shard["accel"], **kwargs)


def run_estimator(estimator: VioEstimator, frames: Iterable[SyncedFrame], *, source: str = "estimate",
                  progress: Callable[[], None] | None = None, lookahead: int = LOOKAHEAD_FRAMES) -> Trajectory:
    """Step the estimator over frames (resetting it when the buffer restarts) and collect its poses.

    The next ``lookahead - 1`` frames are read ahead and passed as ``upcoming`` (0 or 1: none).
    """
    estimates: list[PoseEstimate] = []
    pending: deque[SyncedFrame] = deque()
    incoming = iter(frames)
    seen = False
    while True:
        pending.extend(islice(incoming, max(lookahead, 1) - len(pending)))
        if not pending:
            break
        frame = pending.popleft()
        if frame.frame_index == 0 and seen:
            estimator.reset()
        seen = True
        estimate = estimator.step(frame, tuple(pending))
        if estimate is not None:
            estimates.append(estimate)
        if progress is not None:
            progress()
    return estimates_to_trajectory(estimates, source=source)


def estimates_to_trajectory(estimates: list[PoseEstimate], *, source: str = "estimate") -> Trajectory:
    """Trajectory of pose estimates (stamps kept as they are)."""
    if not estimates:
        return Trajectory(np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros((0, 4)), source=source)
    return Trajectory(np.array([e.stamp_ns for e in estimates], dtype=np.int64),
                      np.stack([e.position_xyz for e in estimates]), np.stack([e.quat_wxyz for e in estimates]),
                      source=source)


def ground_truth(shard: dict[str, Any], *, source: str = "ground truth") -> Trajectory:
    """The shard's ground-truth body trajectory at IMU rate."""
    return Trajectory(shard["gt_stamps_ns"], shard["gt_positions_xyz"], shard["gt_quats_wxyz"], source=source)
