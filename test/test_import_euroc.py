"""arvr-vio-import-euroc on small ASL folders written by the test."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz
from arvr_hybrid_vio.io.bags import iter_messages, topic_types
from arvr_hybrid_vio.tools.import_euroc import main as import_main

START_NS = 1_403_636_579_763_555_584  # a EuRoC-like stamp (needs exact int64 handling)
T_BS = np.array([[0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975],
                 [0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768],
                 [-0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949],
                 [0.0, 0.0, 0.0, 1.0]])


def write_asl(root: Path, *, gt_folder: str | None = "state_groundtruth_estimate0", bits: int = 8,
              frames: int = 6, imu_count: int = 60) -> Path:
    """A tiny ASL folder: root/mav0/{cam0,imu0,<gt_folder>} with 20 Hz images and 200 Hz IMU."""
    mav0 = root / "mav0"
    (mav0 / "cam0" / "data").mkdir(parents=True)
    (mav0 / "imu0").mkdir()
    rows = []
    for i in range(frames):
        stamp = START_NS + i * 50_000_000
        image = ((np.indices((30, 40)).sum(axis=0) * 5 + i * 10) % 256).astype(np.uint8)
        if bits == 16:
            image = image.astype(np.uint16) * 256 + 77
        cv2.imwrite(str(mav0 / "cam0" / "data" / f"{stamp}.png"), image)
        rows.append(f"{stamp},{stamp}.png")
    (mav0 / "cam0" / "data.csv").write_text("#timestamp [ns],filename\n" + "\n".join(rows) + "\n")
    (mav0 / "cam0" / "sensor.yaml").write_text(
        "%YAML:1.0\nsensor_type: camera\ncamera_model: pinhole\nintrinsics: [458.654, 457.296, 367.215, 248.375]\n"
        "distortion_model: radial-tangential\ndistortion_coefficients: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]\n"
        f"resolution: [40, 30]\nT_BS:\n  cols: 4\n  rows: 4\n  data: {T_BS.ravel().tolist()}\n")
    imu = [f"{START_NS + i * 5_000_000},{0.001 * i},-0.02,0.03,9.7,0.1,{-0.01 * i}" for i in range(imu_count)]
    (mav0 / "imu0" / "data.csv").write_text("#timestamp [ns],w_x,w_y,w_z,a_x,a_y,a_z\n" + "\n".join(imu) + "\n")
    if gt_folder:
        (mav0 / gt_folder).mkdir()
        gt = [f"{START_NS + i * 5_000_000},{0.01 * i},2.0,1.0,0.0,0.0,0.0,1.0" for i in range(imu_count)]
        (mav0 / gt_folder / "data.csv").write_text("#timestamp,p_x,p_y,p_z,q_w,q_x,q_y,q_z\n" + "\n".join(gt) + "\n")
    return root


@pytest.mark.parametrize("gt_folder", ["state_groundtruth_estimate0", "mocap0"])
def test_import_writes_the_layout_with_exact_stamps_and_values(tmp_path: Path, gt_folder: str) -> None:
    asl = write_asl(tmp_path / "MH_tiny", gt_folder=gt_folder)
    out = tmp_path / "bag"
    assert import_main([str(asl), "--out", str(out)]) == 0
    assert set(topic_types(out)) == {"/cam0/image_raw", "/cam0/camera_info", "/imu0", "/ground_truth/pose", "/tf_static"}
    by_topic: dict[str, list] = {}
    for item in iter_messages(out):
        by_topic.setdefault(item.topic, []).append((item.log_time_ns, item.decode()))
    assert [s for s, _ in by_topic["/cam0/image_raw"]] == [START_NS + i * 50_000_000 for i in range(6)]
    assert [s for s, _ in by_topic["/imu0"]] == [START_NS + i * 5_000_000 for i in range(60)]
    assert len(by_topic["/ground_truth/pose"]) == 60 and len(by_topic["/tf_static"]) == 1
    image = by_topic["/cam0/image_raw"][2][1]
    expected = ((np.indices((30, 40)).sum(axis=0) * 5 + 20) % 256).astype(np.uint8)
    assert np.array_equal(np.asarray(image.data).reshape(30, 40), expected)
    imu = by_topic["/imu0"][7][1]
    assert (imu.angular_velocity.x, imu.linear_acceleration.x, imu.linear_acceleration.z) == (0.007, 9.7, -0.07)
    info = by_topic["/cam0/camera_info"][0][1]
    assert info.k[0] == 458.654 and info.d[0] == pytest.approx(-0.28340811)
    camera_tf = [t for t in by_topic["/tf_static"][0][1].transforms if t.child_frame_id == "cam0"][0].transform
    q = camera_tf.rotation
    assert np.allclose([q.w, q.x, q.y, q.z], matrix_to_quat_wxyz(T_BS[:3, :3]), atol=1e-9)
    assert by_topic["/ground_truth/pose"][3][1].pose.position.x == pytest.approx(0.03)


def test_import_converts_16_bit_images_and_works_without_ground_truth(tmp_path: Path) -> None:
    asl = write_asl(tmp_path / "tumvi", gt_folder=None, bits=16) / "mav0"
    out = tmp_path / "bag"
    assert import_main([str(asl), "--out", str(out), "--format", "mcap"]) == 0
    assert "/ground_truth/pose" not in topic_types(out)
    first = [item.decode() for item in iter_messages(out, ["/cam0/image_raw"])][0]
    expected = ((np.indices((30, 40)).sum(axis=0) * 5) % 256).astype(np.uint8)
    assert np.array_equal(np.asarray(first.data).reshape(30, 40), expected)


def break_missing_image(mav0: Path) -> str:
    next((mav0 / "cam0" / "data").glob("*.png")).unlink()
    return "not found"


def break_imu_order(mav0: Path) -> str:
    lines = (mav0 / "imu0" / "data.csv").read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    (mav0 / "imu0" / "data.csv").write_text("\n".join(lines) + "\n")
    return "not strictly increasing"


def break_imu_columns(mav0: Path) -> str:
    (mav0 / "imu0" / "data.csv").write_text("#t\n1,2,3\n")
    return "columns"


def break_layout(mav0: Path) -> str:
    (mav0 / "imu0" / "data.csv").unlink()
    (mav0 / "imu0").rmdir()
    return "not an ASL folder"


@pytest.mark.parametrize("breaker", [break_missing_image, break_imu_order, break_imu_columns, break_layout])
def test_bad_asl_folder_exits_2_without_a_bag(tmp_path: Path, breaker, capsys) -> None:
    asl = write_asl(tmp_path / "asl")
    words = breaker(asl / "mav0")
    out = tmp_path / "bag"
    assert import_main([str(asl), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert not out.exists() and not (tmp_path / "bag.partial").exists()
