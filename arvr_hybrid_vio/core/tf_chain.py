"""A trajectory of one frame in another from a TF tree (``/tf`` + ``/tf_static`` samples).

``TransformSamples`` collects transforms ``T_parent_child`` (from a bag or live
callbacks); ``chain_trajectory(samples, parent, child)`` walks the tree from
``parent`` to ``child`` (edges may be traversed in either direction, so the two
frames need not be ancestor and descendant) and composes the edges. The stamps of
the result are those of the dynamic edge with the most samples on the path; other
dynamic edges are interpolated there (linear translation, slerp rotation), and
stamps outside their time range are dropped. Static edges use their latest value.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_xyzw, se3_from_pose, se3_inverse
from arvr_hybrid_vio.core.trajectory import Trajectory


@dataclass
class _Edge:
    stamps_ns: list[int] = field(default_factory=list)
    positions_xyz: list[tuple[float, float, float]] = field(default_factory=list)
    quats_wxyz: list[tuple[float, float, float, float]] = field(default_factory=list)
    static: bool = False


class TransformSamples:
    """Transforms seen on /tf and /tf_static, by (parent, child) frame pair."""

    def __init__(self) -> None:
        self._edges: dict[tuple[str, str], _Edge] = {}

    def add(self, parent: str, child: str, stamp_ns: int, position_xyz: tuple[float, float, float],
            quat_wxyz: tuple[float, float, float, float], *, static: bool) -> None:
        """Record ``T_parent_child`` at ``stamp_ns`` (a static one replaces the previous value)."""
        key = (parent.lstrip("/"), child.lstrip("/"))
        edge = self._edges.setdefault(key, _Edge(static=static))
        if static:
            edge.stamps_ns.clear(), edge.positions_xyz.clear(), edge.quats_wxyz.clear()
        edge.static = edge.static or static
        edge.stamps_ns.append(int(stamp_ns))
        edge.positions_xyz.append(tuple(position_xyz))
        edge.quats_wxyz.append(tuple(quat_wxyz))

    def frames(self) -> list[str]:
        """All frame names seen, sorted."""
        return sorted({frame for key in self._edges for frame in key})

    def path(self, parent: str, child: str) -> list[tuple[tuple[str, str], bool]]:
        """Edges from ``parent`` to ``child``: ((edge parent, edge child), traversed forward)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        neighbours: dict[str, list[tuple[str, tuple[str, str], bool]]] = {}
        for a, b in self._edges:
            neighbours.setdefault(a, []).append((b, (a, b), True))
            neighbours.setdefault(b, []).append((a, (a, b), False))
        previous: dict[str, tuple[str, tuple[str, str], bool] | None] = {parent: None}
        queue = deque([parent])
        while queue:
            frame = queue.popleft()
            for other, key, forward in neighbours.get(frame, []):
                if other not in previous:
                    previous[other] = (frame, key, forward)
                    queue.append(other)
        if child not in previous or parent not in neighbours:
            raise TrajectoryError(f"no TF chain from '{parent}' to '{child}'; frames seen: {self.frames()}")
        steps = []
        frame = child
        while previous[frame] is not None:
            before, key, forward = previous[frame]  # type: ignore[misc]
            steps.append((key, forward))
            frame = before
        return steps[::-1]

    def edge_arrays(self, key: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Stamps (K,), positions (K, 3), quats (K, 4) sorted by stamp (repeats keep the last), static flag."""
        edge = self._edges[key]
        stamps = np.asarray(edge.stamps_ns, dtype=np.int64)
        order = np.argsort(stamps, kind="stable")
        stamps = stamps[order]
        keep = np.concatenate([stamps[1:] != stamps[:-1], [True]])  # last of each repeated stamp
        positions = np.asarray(edge.positions_xyz, dtype=np.float64)[order][keep]
        quats = np.asarray(edge.quats_wxyz, dtype=np.float64)[order][keep]
        return stamps[keep], positions, quats, edge.static


def chain_trajectory(samples: TransformSamples, parent: str, child: str, *, source: str) -> Trajectory:
    """Trajectory ``T_parent_child`` over time, composed along the TF tree.

    Raises:
        TrajectoryError: no chain between the frames, or only static transforms on it.
    """
    try:
        steps = samples.path(parent, child)
    except TrajectoryError as exc:
        raise TrajectoryError(f"{source}: {exc}") from None
    arrays = {key: samples.edge_arrays(key) for key, _ in steps}
    dynamic = [key for key, _ in steps if not arrays[key][3]]
    if not dynamic:
        raise TrajectoryError(f"{source}: only static transforms between '{parent}' and '{child}'; no trajectory")
    base = max(dynamic, key=lambda key: arrays[key][0].size)
    stamps = arrays[base][0]
    for key in dynamic:
        first, last = arrays[key][0][0], arrays[key][0][-1]
        stamps = stamps[(stamps >= first) & (stamps <= last)]
    if stamps.size == 0:
        raise TrajectoryError(
            f"{source}: the dynamic transforms between '{parent}' and '{child}' never overlap in time")
    total = np.broadcast_to(np.eye(4), (stamps.size, 4, 4)).copy()
    for key, forward in steps:
        edge = _edge_at(arrays[key], stamps)
        total = total @ (edge if forward else se3_inverse(edge))
    return Trajectory.from_poses_se3(stamps, total, source=source)


def _edge_at(arrays: tuple[np.ndarray, np.ndarray, np.ndarray, bool], stamps: np.ndarray) -> np.ndarray:
    """Edge transforms at ``stamps`` (static: latest value). Shape: -> (S, 4, 4)."""
    edge_stamps, positions, quats, static = arrays
    if static or edge_stamps.size == 1:
        return np.broadcast_to(se3_from_pose(positions[-1], quats[-1]), (stamps.size, 4, 4))
    times = (edge_stamps - edge_stamps[0]).astype(np.float64)
    query = (stamps - edge_stamps[0]).astype(np.float64)
    interpolated = np.stack([np.interp(query, times, positions[:, k]) for k in range(3)], axis=1)
    from scipy.spatial.transform import Rotation, Slerp  # here: evaluating a trajectory file needs no scipy
    rotations = Slerp(times, Rotation.from_quat(quat_wxyz_to_xyzw(quats)))(query)
    out = np.zeros((stamps.size, 4, 4))
    out[:, :3, :3] = rotations.as_matrix()
    out[:, :3, 3] = interpolated
    out[:, 3, 3] = 1.0
    return out
