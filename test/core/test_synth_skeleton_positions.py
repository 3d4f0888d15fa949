"""core.synth.skeleton_positions: a head's poses from joint positions only."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.synth.skeleton_positions import (
    HEAD_JOINTS,
    NECK_HEAD_REST_LEAN_DEG,
    head_rotations,
    head_trajectory,
)

NAMES = ("Hips", "Neck", "Head", "LeftShoulder", "RightShoulder")


def _body(rotation: np.ndarray, origin: np.ndarray, lean_deg: float) -> np.ndarray:
    """Joint positions (5, 3) of an upright body turned by ``rotation`` (world <- body) at ``origin``, its
    neck-to-head segment leaning ``lean_deg`` forward."""
    lean = np.radians(lean_deg)
    local = {  # body frame: x right, y forward, z up
        "Hips": [0.0, 0.0, 1.0],
        "Neck": [0.0, 0.0, 1.5],
        "Head": [0.0, 0.15 * np.sin(lean), 1.5 + 0.15 * np.cos(lean)],
        "LeftShoulder": [-0.18, 0.0, 1.45],
        "RightShoulder": [0.18, 0.0, 1.45],
    }
    return np.array([origin + rotation @ np.array(local[name]) for name in NAMES])


def test_an_upright_body_looks_level_ahead_whatever_its_turn() -> None:
    turns = Rotation.from_euler("zyx", [[0.0, 0.0, 0.0], [90.0, 0.0, 0.0], [-135.0, 10.0, -5.0]], degrees=True)
    origins = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.3], [0.5, 0.5, 0.0]])
    positions = np.stack([_body(turn, origin, NECK_HEAD_REST_LEAN_DEG)
                          for turn, origin in zip(turns.as_matrix(), origins)])
    trajectory = head_trajectory(positions, NAMES, 120.0, source="three bodies")
    body_axes = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).T  # head (left, up, fwd) in body axes
    for index, turn in enumerate(turns.as_matrix()):
        assert np.allclose(trajectory.rotations()[index], turn @ body_axes, atol=1e-9)
        assert np.allclose(trajectory.positions_xyz[index], positions[index, NAMES.index("Head")])
    assert trajectory.stamps_ns.tolist() == [0, 8_333_333, 16_666_667]


def test_the_rest_lean_is_taken_out_and_a_nod_shows() -> None:
    upright = _body(np.eye(3), np.zeros(3), NECK_HEAD_REST_LEAN_DEG)
    nodding = _body(np.eye(3), np.zeros(3), NECK_HEAD_REST_LEAN_DEG + 30.0)  # looks 30 deg down
    rotations = head_rotations(*(np.stack([upright, nodding])[:, NAMES.index(j)] for j in HEAD_JOINTS))
    elevation = np.degrees(np.arcsin(rotations[:, 2, 2]))  # the forward axis' world z
    assert np.allclose(elevation, [0.0, -30.0], atol=1e-9)
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    no_lean = head_rotations(*(upright[None, NAMES.index(j)] for j in HEAD_JOINTS), rest_lean_deg=0.0)
    assert np.degrees(np.arcsin(no_lean[0, 2, 2])) == pytest.approx(-NECK_HEAD_REST_LEAN_DEG)


@pytest.mark.parametrize("case, message", [
    ("missing joint", "no joint"), ("wrong shape", "shape"), ("one frame", "not a motion"),
    ("nan", "non-finite"), ("collapsed shoulders", "shoulder span"), ("shoulders along the neck", "line up"),
])
def test_bad_positions_are_refused_with_the_reason(case: str, message: str) -> None:
    positions = np.stack([_body(np.eye(3), np.zeros(3), 20.0)] * 3)
    names: tuple[str, ...] = NAMES
    if case == "missing joint":
        names = ("Hips", "Neck", "Skull", "LeftShoulder", "RightShoulder")
    elif case == "wrong shape":
        positions = positions[:, :, :2]
    elif case == "one frame":
        positions = positions[:1]
    elif case == "nan":
        positions[1, 2, 0] = np.nan
    elif case == "collapsed shoulders":
        positions[2, NAMES.index("LeftShoulder")] = positions[2, NAMES.index("RightShoulder")]
    else:
        head_segment = positions[0, NAMES.index("Head")] - positions[0, NAMES.index("Neck")]
        positions[0, NAMES.index("LeftShoulder")] = positions[0, NAMES.index("RightShoulder")] + 2.0 * head_segment
    with pytest.raises(TrajectoryError, match=message):
        head_trajectory(positions, names, 120.0, source="case")
