"""A head's poses from a motion capture that holds joint positions only (no joint rotations).

Some captures are published as solved skeletons reduced to world joint positions, one (J, 3) array per
frame. A head-mounted camera needs the head's orientation too; from positions alone it is taken from
the head's own segment and the shoulders:

* up: from the neck joint to the head joint;
* left: from the right shoulder to the left one, made perpendicular to up;
* forward: left x up;

then pitched up by :data:`NECK_HEAD_REST_LEAN_DEG`, the forward lean of the neck-to-head segment in a
neutral pose (the skull sits in front of the neck): MocapBank's skeleton (``core.synth.bvh``) has its
head joint 11.4 cm above and 4.7 cm in front of its neck (22 deg), and in the climbing captures of
``arvr-vio-fetch-motions`` the segment leans 17-24 deg forward (median per take, four of five takes)
while the torso is within 10 deg of upright. These are the axes of :data:`arvr_hybrid_vio.tools.fetch_motions.T_HEAD_CAMERA`'s head (x left, y up,
z forward). What positions cannot give is the head's turn about the neck relative to the shoulders
(looking sideways while the shoulders stay): that orientation follows the upper body's yaw, and the
head's nod and tilt only as far as the neck-to-head segment leans.
"""
from __future__ import annotations

import numpy as np

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.trajectory import Trajectory

HEAD_JOINTS = ("Head", "Neck", "LeftShoulder", "RightShoulder")
NECK_HEAD_REST_LEAN_DEG = 20.0
_MIN_SEGMENT_M = 0.02  # neck-to-head and shoulder-to-shoulder spans shorter than this are not a body


def head_rotations(head: np.ndarray, neck: np.ndarray, left_shoulder: np.ndarray, right_shoulder: np.ndarray, *,
                   rest_lean_deg: float = NECK_HEAD_REST_LEAN_DEG) -> np.ndarray:
    """World <- head rotations, columns (left, up, forward), from the four joints' world positions, the
    neck-to-head direction taken to lean ``rest_lean_deg`` forward of the head's up.

    Shape: each (F, 3) -> (F, 3, 3).

    Raises:
        TrajectoryError: a frame where the neck-to-head or the shoulder span is too short, or the two
            are parallel (no orientation follows).
    """
    up = head - neck
    left = left_shoulder - right_shoulder
    up_norm = np.linalg.norm(up, axis=1)
    if np.any(up_norm < _MIN_SEGMENT_M) or np.any(np.linalg.norm(left, axis=1) < _MIN_SEGMENT_M):
        raise TrajectoryError("neck-to-head or shoulder span under 2 cm in some frame: not a body's joints")
    up = up / up_norm[:, None]
    left = left - np.sum(left * up, axis=1)[:, None] * up
    left_norm = np.linalg.norm(left, axis=1)
    if np.any(left_norm < _MIN_SEGMENT_M * 0.1):
        raise TrajectoryError("the shoulders line up with the neck-to-head segment in some frame")
    left = left / left_norm[:, None]
    forward = np.cross(left, up)
    lean = np.radians(rest_lean_deg)
    return np.stack([left, np.cos(lean) * up - np.sin(lean) * forward, np.cos(lean) * forward + np.sin(lean) * up],
                    axis=2)


def head_trajectory(positions: np.ndarray, joint_names: tuple[str, ...] | list[str], rate_hz: float, *,
                    source: str = "joint positions") -> Trajectory:
    """The head's world poses (position of the head joint, orientation from :func:`head_rotations`).

    Shape: positions (F, J, 3), metres, world z up; ``joint_names`` names the J joints.

    Raises:
        TrajectoryError: a joint of :data:`HEAD_JOINTS` is not named, the array is not (F, J, 3) with
            J names, fewer than 2 frames, non-finite values, or a frame with no orientation.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[2] != 3 or positions.shape[1] != len(joint_names):
        raise TrajectoryError(f"{source}: positions of shape {positions.shape}, expected (frames, "
                              f"{len(joint_names)} joints, 3)")
    if positions.shape[0] < 2 or not rate_hz > 0.0:
        raise TrajectoryError(f"{source}: {positions.shape[0]} frame(s) at {rate_hz} Hz: not a motion")
    if not np.all(np.isfinite(positions)):
        raise TrajectoryError(f"{source}: non-finite joint positions")
    missing = [name for name in HEAD_JOINTS if name not in joint_names]
    if missing:
        raise TrajectoryError(f"{source}: no joint(s) {missing}; joints: {', '.join(joint_names)}")
    head, neck, left, right = (positions[:, list(joint_names).index(name)] for name in HEAD_JOINTS)
    try:
        rotations = head_rotations(head, neck, left, right)
    except TrajectoryError as exc:
        raise TrajectoryError(f"{source}: {exc}") from None
    poses = np.broadcast_to(np.eye(4), (positions.shape[0], 4, 4)).copy()
    poses[:, :3, :3] = rotations
    poses[:, :3, 3] = head
    stamps_ns = np.round(np.arange(positions.shape[0]) * (1e9 / rate_hz)).astype(np.int64)
    return Trajectory.from_poses_se3(stamps_ns, poses, source=source)
