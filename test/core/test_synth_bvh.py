"""core.synth.bvh: the hierarchy, the channel order, the joint chain, the z-up world, bad files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.synth.bvh import R_ZUP_YUP, joint_trajectory, parse_bvh, read_bvh

HIERARCHY = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Neck
  {
    OFFSET 0.0 50.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0.0 10.0 5.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0.0 18.0 0.0
      }
    }
  }
  JOINT LeftHip
  {
    OFFSET 9.0 0.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 -40.0 0.0
    }
  }
}
MOTION
"""


def make_bvh(rows: list[list[float]], frame_time_s: float = 0.033333) -> str:
    """BVH text with the hierarchy above (15 channels) and the given frames."""
    lines = [f"Frames: {len(rows)}", f"Frame Time: {frame_time_s}"] + [" ".join(f"{v:.6f}" for v in row) for row in rows]
    return HIERARCHY + "\n".join(lines) + "\n"


def rest_row(**changes: float) -> list[float]:
    row = [0.0] * 15
    for index, value in changes.items():
        row[int(index[1:])] = value
    return row


def test_the_hierarchy_is_read_with_parents_offsets_and_columns() -> None:
    motion = parse_bvh(make_bvh([rest_row(), rest_row()]))
    assert [j.name for j in motion.joints] == ["Hips", "Neck", "Head", "LeftHip"]
    assert [j.parent for j in motion.joints] == [None, 0, 1, 0]
    assert [j.column for j in motion.joints] == [0, 6, 9, 12]
    assert np.allclose(motion.joints[2].offset, [0.0, 10.0, 5.0])  # not the end site's
    assert motion.frame_count == 2 and motion.frame_time_s == pytest.approx(0.033333)


def test_the_head_follows_the_chain_in_the_listed_channel_order() -> None:
    rng = np.random.default_rng(3)
    angles = rng.uniform(-60.0, 60.0, size=(3, 3))  # per joint: Z, X, Y degrees as listed
    row = [12.0, 90.0, -4.0, *angles[0], *angles[1], *angles[2], 0.0, 0.0, 0.0]
    rotations, positions = parse_bvh(make_bvh([row, row])).joint_poses("Head")

    def listed(zxy: np.ndarray) -> np.ndarray:  # Rz @ Rx @ Ry, each about its own axis
        z, x, y = np.radians(zxy)
        return (Rotation.from_rotvec([0, 0, z]) * Rotation.from_rotvec([x, 0, 0]) * Rotation.from_rotvec([0, y, 0])).as_matrix()

    hips, neck, head = (listed(a) for a in angles)
    expected_position = np.array([12.0, 90.0, -4.0]) + hips @ [0.0, 50.0, 0.0] + hips @ neck @ [0.0, 10.0, 5.0]
    assert np.allclose(positions[1], expected_position)
    assert np.allclose(rotations[1], hips @ neck @ head)


def test_a_turned_body_carries_the_head_round_and_the_world_is_z_up() -> None:
    trajectory = joint_trajectory(parse_bvh(make_bvh([rest_row(c1=90.0), rest_row(c1=90.0, c5=90.0)], 0.01)), "Head",
                                  metres_per_unit=0.01, start_stamp_ns=5)
    assert np.array_equal(trajectory.stamps_ns, [5, 5 + 10_000_000])
    assert np.allclose(trajectory.positions_xyz[0], R_ZUP_YUP @ [0.0, 1.5, 0.05])  # 90 + 50 + 10 cm up, 5 forward
    assert trajectory.positions_xyz[0][2] == pytest.approx(1.5)  # up is z
    assert np.allclose(trajectory.positions_xyz[1], R_ZUP_YUP @ [0.05, 1.5, 0.0])  # forward turned to the left
    # the head's forward axis (file z) is the world x at rest, and turns to the world y (left)
    assert np.allclose(trajectory.rotations()[0][:, 2], [1.0, 0.0, 0.0])
    assert np.allclose(trajectory.rotations()[1][:, 2], [0.0, 1.0, 0.0])


@pytest.mark.parametrize("text, words", [
    ("not a bvh", "not a BVH"),
    (make_bvh([rest_row()]), "at least 2"),
    (make_bvh([rest_row(), rest_row()[:-1]]), r"rows found, of \[14, 15\] values"),
    (HIERARCHY.replace("Zrotation Xrotation Yrotation\n    JOINT Head", "Zrotation Xrotation Wrotation\n    JOINT Head")
     + "Frames: 2\nFrame Time: 0.1\n" + "0 " * 15 + "\n" + "0 " * 15 + "\n", "unknown channel"),
    (make_bvh([rest_row(), rest_row()]).replace("Frame Time: 0.033333", "Frame Time: 0"), "frame time"),
    (HIERARCHY.replace("OFFSET 0.0 50.0 0.0", "OFFSET 0.0 fifty 0.0") + "Frames: 2\nFrame Time: 0.1\n", "malformed"),
])
def test_malformed_files_are_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(TrajectoryError, match=words):
        parse_bvh(text, source="x.bvh")


def test_a_missing_file_or_joint_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryError, match="not found"):
        read_bvh(tmp_path / "none.bvh")
    path = tmp_path / "a.bvh"
    path.write_text(make_bvh([rest_row(), rest_row()]))
    with pytest.raises(TrajectoryError, match="no joint 'Skull'.*Hips, Neck, Head, LeftHip"):
        read_bvh(path).joint_poses("Skull")
