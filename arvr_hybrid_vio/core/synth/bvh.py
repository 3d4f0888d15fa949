"""BVH motion capture: the world poses of one joint, to drive a synthetic sequence with a real human motion.

A BVH file holds a joint hierarchy (each joint's ``OFFSET`` from its parent and its ``CHANNELS``)
and one row of channel values per frame at a fixed ``Frame Time``. A joint's pose in the file's
world is the product down its chain of ``Translate(offset) Rotate(channels)``, where the rotation
channels apply in the order listed (``Zrotation Xrotation Yrotation`` is ``Rz Rx Ry``: intrinsic
axes, degrees). Position channels, usually only on the root, replace the joint's offset.

Only what a head-mounted camera needs is read: joint names, offsets, channels and the frames. The
file's axes and units are kept (BVH is commonly y-up, in cm); the caller converts them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.trajectory import Trajectory

_ROTATION_CHANNELS = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POSITION_CHANNELS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


@dataclass(frozen=True)
class BvhJoint:
    """One joint of the hierarchy (end sites are not kept)."""

    name: str
    parent: int | None  # index into BvhMotion.joints; None for the root
    offset: np.ndarray  # (3,) from the parent, file units
    channels: tuple[str, ...]  # e.g. ("Zrotation", "Xrotation", "Yrotation")
    column: int  # first column of this joint's channels in BvhMotion.values


@dataclass(frozen=True)
class BvhMotion:
    """A BVH file: its hierarchy and its frames.

    Shape: values (F, C), C the sum of every joint's channel count.
    """

    joints: tuple[BvhJoint, ...]
    frame_time_s: float
    values: np.ndarray
    source: str = "bvh"

    @property
    def frame_count(self) -> int:
        """Number of frames."""
        return int(self.values.shape[0])

    def joint_index(self, name: str) -> int:
        """Index of the joint called ``name``.

        Raises:
            TrajectoryError: no such joint (the message lists the joints there are).
        """
        return index_of(name, [joint.name for joint in self.joints], what="joint", source=self.source)

    def joint_poses(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The joint's orientation and position in the file's world frame at every frame.

        Shape: -> rotations (F, 3, 3) (world <- joint), positions (F, 3) in file units.
        """
        chain = []
        index: int | None = self.joint_index(name)
        while index is not None:
            chain.append(self.joints[index])
            index = self.joints[index].parent
        rotations = np.broadcast_to(np.eye(3), (self.frame_count, 3, 3)).copy()
        positions = np.zeros((self.frame_count, 3))
        for joint in reversed(chain):  # root first
            local_rotation, local_translation = self._local_transform(joint)
            positions = positions + np.einsum("fij,fj->fi", rotations, local_translation)
            rotations = rotations @ local_rotation
        return rotations, positions

    def _local_transform(self, joint: BvhJoint) -> tuple[np.ndarray, np.ndarray]:
        """(F, 3, 3) rotation and (F, 3) translation of ``joint`` in its parent's axes."""
        translation = np.broadcast_to(joint.offset, (self.frame_count, 3)).copy()
        axes, angles = "", []
        for offset, channel in enumerate(joint.channels):
            column = self.values[:, joint.column + offset]
            if channel in _POSITION_CHANNELS:
                translation[:, _POSITION_CHANNELS[channel]] = column
            else:
                axes += _ROTATION_CHANNELS[channel]
                angles.append(column)
        if not axes:
            return np.broadcast_to(np.eye(3), (self.frame_count, 3, 3)), translation
        return Rotation.from_euler(axes, np.stack(angles, axis=1), degrees=True).as_matrix(), translation


def index_of(name: str, names: list[str], *, what: str, source: str) -> int:
    """Index of ``name`` in a skeleton's ``names`` (joints, bones).

    Raises:
        TrajectoryError: not there (the message lists the names there are).
    """
    if name not in names:
        raise TrajectoryError(f"{source}: no {what} {name!r}; {what}s: {', '.join(names)}")
    return names.index(name)


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file.

    Raises:
        TrajectoryError: missing file, or not a well-formed BVH (the message says where).
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"{path}: BVH file not found")
    return parse_bvh(path.read_text(errors="replace"), source=str(path))


def parse_bvh(text: str, *, source: str = "bvh") -> BvhMotion:
    """Parse BVH text (see :func:`read_bvh`).

    Raises:
        TrajectoryError: not a well-formed BVH.
    """
    head, separator, motion = text.partition("MOTION")
    if not separator or "HIERARCHY" not in head:
        raise TrajectoryError(f"{source}: not a BVH file (no HIERARCHY ... MOTION sections)")
    joints = _parse_hierarchy(head.split(), source)
    frame_time_s, values = _parse_frames(motion, source)
    width = sum(len(joint.channels) for joint in joints)
    if values.shape[1] != width:
        raise TrajectoryError(f"{source}: frames have {values.shape[1]} values, the hierarchy declares {width} channels")
    return BvhMotion(joints=tuple(joints), frame_time_s=frame_time_s, values=values, source=source)


def _parse_hierarchy(tokens: list[str], source: str) -> list[BvhJoint]:
    """Joints in file order from the whitespace-split HIERARCHY section."""
    joints: list[BvhJoint] = []
    stack: list[int | None] = []  # the open blocks: a joint index, or None for an end site
    pending: int | None = None  # the joint (or end site, -1) whose block opens next
    column, position = 0, 0
    try:
        while position < len(tokens):
            token = tokens[position]
            if token in ("ROOT", "JOINT"):
                parent = next((index for index in reversed(stack) if index is not None), None)
                joints.append(BvhJoint(tokens[position + 1], parent, np.zeros(3), (), column))
                pending, position = len(joints) - 1, position + 2
            elif token == "End":
                pending, position = -1, position + 2
            elif token == "{":
                stack.append(None if pending == -1 else pending)
                position += 1
            elif token == "}":
                stack.pop()
                position += 1
            elif token == "OFFSET":
                offset = np.array([float(value) for value in tokens[position + 1:position + 4]])
                if stack and stack[-1] is not None:
                    joints[stack[-1]] = replace(joints[stack[-1]], offset=offset)
                position += 4
            elif token == "CHANNELS":
                count = int(tokens[position + 1])
                channels = tuple(tokens[position + 2:position + 2 + count])
                _check_channels(channels, source)
                joints[stack[-1]] = replace(joints[stack[-1]], channels=channels, column=column)
                column, position = column + count, position + 2 + count
            else:
                position += 1
    except (IndexError, ValueError, TypeError) as exc:
        raise TrajectoryError(f"{source}: malformed HIERARCHY near token {position} ({exc})") from exc
    if not joints or stack:
        raise TrajectoryError(f"{source}: HIERARCHY has no joints or unbalanced braces")
    return joints


def _check_channels(channels: tuple[str, ...], source: str) -> None:
    unknown = [c for c in channels if c not in _ROTATION_CHANNELS and c not in _POSITION_CHANNELS]
    if unknown:
        raise TrajectoryError(f"{source}: unknown channel(s) {unknown}")


def _parse_frames(motion: str, source: str) -> tuple[float, np.ndarray]:
    """Frame time (s) and the (F, C) values of the MOTION section."""
    lines = [line.strip() for line in motion.strip().splitlines() if line.strip()]
    try:
        count = int(lines[0].split(":")[1])
        frame_time_s = float(lines[1].split(":")[1])
        rows = [[float(value) for value in line.split()] for line in lines[2:2 + count]]
    except (IndexError, ValueError) as exc:
        raise TrajectoryError(f"{source}: malformed MOTION section ({exc})") from exc
    if count < 2 or len(rows) != count or len({len(row) for row in rows}) != 1:
        raise TrajectoryError(f"{source}: MOTION declares {count} frames (at least 2), {len(rows)} rows found, "
                              f"of {sorted({len(row) for row in rows})} values")
    values = np.array(rows)
    if not frame_time_s > 0.0 or not np.all(np.isfinite(values)):
        raise TrajectoryError(f"{source}: frame time {frame_time_s} s or non-finite values")
    return frame_time_s, values


# The file's y-up axes into this project's z-up world (x <- z, y <- x, z <- y: a proper rotation)
R_ZUP_YUP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def joint_trajectory(motion: BvhMotion, joint: str, *, metres_per_unit: float = 0.01,
                     start_stamp_ns: int = 0) -> Trajectory:
    """The joint's poses as a trajectory in a z-up world (the file taken as y-up), in metres, stamped
    ``start_stamp_ns + frame * frame_time``.

    Raises:
        TrajectoryError: no such joint.
    """
    rotations, positions = motion.joint_poses(joint)
    poses = np.broadcast_to(np.eye(4), (motion.frame_count, 4, 4)).copy()  # (F, 4, 4) T_world_joint
    poses[:, :3, :3] = R_ZUP_YUP @ rotations
    poses[:, :3, 3] = positions @ R_ZUP_YUP.T * metres_per_unit
    stamps_ns = start_stamp_ns + np.round(np.arange(motion.frame_count) * motion.frame_time_s * 1e9).astype(np.int64)
    return Trajectory.from_poses_se3(stamps_ns, poses, source=f"{motion.source}:{joint}")
