"""ASF/AMC reader: the skeleton, the forward kinematics in CMU's convention, units, and refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.synth.acclaim import bone_trajectory, parse_amc, parse_asf, read_acclaim
from arvr_hybrid_vio.core.synth.bvh import R_ZUP_YUP

# A root, a neck pointing up (2 units, rz only) and a head (1 unit) whose frame is turned 90 deg about z
# (its local x is the world y): a head rx then rotates about the world y axis. CMU's layout of the files.
ASF = """# AST/ASF file generated using VICON BodyLanguage
:version 1.10
:name VICON
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
   a test skeleton
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name neck
     direction 0 1 0
     length 2.0
     axis 0 0 0  XYZ
    dof rz
    limits (-180.0 180.0)
  end
  begin
     id 2
     name head
     direction 0 2 0
     length 1.0
     axis 0 0 90  XYZ
    dof rx ry
    limits (-180.0 180.0)
           (-180.0 180.0)
  end
:hierarchy
  begin
    root neck
    neck head
  end
"""


def amc(frames: list[tuple[list[float], float, list[float]]]) -> str:
    lines = ["#!OML:ASF test.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    for number, (root, neck_rz, head) in enumerate(frames, start=1):
        lines += [str(number), "root " + " ".join(map(str, root)), f"neck {neck_rz}",
                  "head " + " ".join(map(str, head))]
    return "\n".join(lines) + "\n"


def test_the_skeleton_is_read_with_parents_directions_axes_and_units() -> None:
    skeleton = parse_asf(ASF)
    assert [b.name for b in skeleton.bones] == ["root", "neck", "head"]
    assert [b.parent for b in skeleton.bones] == [None, 0, 1]
    np.testing.assert_allclose(skeleton.bones[2].direction, [0, 1, 0])  # normalised
    np.testing.assert_allclose(skeleton.bones[2].axis @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    assert skeleton.bones[0].dofs == ("tx", "ty", "tz", "rx", "ry", "rz") and skeleton.bones[2].dofs == ("rx", "ry")
    assert skeleton.metres_per_unit == pytest.approx(0.0254 / 0.45)


def test_forward_kinematics_follow_cmu_convention() -> None:
    motion = parse_amc(amc([([1, 2, 3, 0, 0, 0], 0.0, [0.0, 0.0]),
                            ([1, 2, 3, 0, 0, 0], 90.0, [0.0, 0.0]),
                            ([0, 0, 0, 0, 0, 0], 0.0, [30.0, 0.0]),
                            ([0, 0, 0, 0, 90, 0], 0.0, [0.0, 0.0])]), parse_asf(ASF))
    rotations, starts = motion.bone_poses("head")
    # rest: the head starts at the neck's end, straight above the root
    np.testing.assert_allclose(starts[0], [1, 4, 3])
    np.testing.assert_allclose(rotations[0], np.eye(3), atol=1e-15)
    # the neck turned 90 deg about z carries the head: its start swings to -x, its frame turns with it
    np.testing.assert_allclose(starts[1], [1 - 2, 2, 3], atol=1e-12)
    np.testing.assert_allclose(rotations[1], Rotation.from_euler("z", 90, degrees=True).as_matrix(), atol=1e-12)
    # the head's rx acts in its own frame (turned 90 deg about z): a rotation about the world y axis
    np.testing.assert_allclose(rotations[2], Rotation.from_euler("y", 30, degrees=True).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(starts[2], [0, 2, 0], atol=1e-12)  # its own rotation does not move its start
    # the root's ry turns the whole body about the vertical; the head starts on the root's axis
    np.testing.assert_allclose(rotations[3], Rotation.from_euler("y", 90, degrees=True).as_matrix(), atol=1e-12)
    neck_rotations, neck_starts = motion.bone_poses("neck")
    np.testing.assert_allclose(neck_starts, [[1, 2, 3], [1, 2, 3], [0, 0, 0], [0, 0, 0]])


def test_the_trajectory_is_z_up_in_metres_at_the_given_rate(tmp_path: Path) -> None:
    (tmp_path / "s.asf").write_text(ASF)
    (tmp_path / "m.amc").write_text(amc([([0, 10, 0, 0, 0, 0], 0.0, [0.0, 0.0])] * 3))
    trajectory = bone_trajectory(read_acclaim(tmp_path / "s.asf", tmp_path / "m.amc"), "head",
                                 frame_rate_hz=120.0, start_stamp_ns=5)
    np.testing.assert_array_equal(trajectory.stamps_ns, [5, 5 + 8_333_333, 5 + 16_666_667])
    np.testing.assert_allclose(trajectory.positions_xyz[0], [0, 0, 12 * 0.0254 / 0.45], atol=1e-12)  # y-up -> z-up
    np.testing.assert_allclose(trajectory.rotations()[0], R_ZUP_YUP, atol=1e-12)


@pytest.mark.parametrize(("asf", "amc_text", "words"), [
    (ASF.replace("axis 0 0 90  XYZ", "axis 0 0 90  ZYX"), None, "only XYZ"),
    (ASF.replace("dof rz", "dof tx"), None, "only rx, ry, rz"),
    (ASF.replace("    neck head\n", ""), None, "not in the hierarchy"),
    (ASF.replace("direction 0 1 0", "direction 0 0 0"), None, "non-zero"),
    (ASF.replace(":hierarchy", ":nothing"), None, "no :hierarchy"),
    (ASF, "1\nroot 0 0 0 0 0 0\nneck 1 2\nhead 0 0\n", "has 2 values"),
    (ASF, "1\nroot 0 0 0 0 0 0\nneck 1\nhead 0 0\n3\n", "out of sequence"),
    (ASF, "1\nroot 0 0 0 0 0 0\nnose 1\n", "bone 'nose'"),
    (ASF, "1\nroot 0 0 0 0 0 x\n", "not a number"),
    (ASF, ":DEGREES\n", "no frames"),
])
def test_malformed_files_are_refused_with_the_reason(asf: str, amc_text: str | None, words: str) -> None:
    with pytest.raises(TrajectoryError, match=words):
        parse_amc(amc_text if amc_text is not None else amc([([0] * 6, 0.0, [0.0, 0.0])]), parse_asf(asf))


def test_a_missing_file_or_bone_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryError, match="nothing.asf"):
        read_acclaim(tmp_path / "nothing.asf", tmp_path / "nothing.amc")
    motion = parse_amc(amc([([0] * 6, 0.0, [0.0, 0.0])]), parse_asf(ASF))
    with pytest.raises(TrajectoryError, match="no bone 'nose'; bones: root, neck, head"):
        bone_trajectory(motion, "nose")
