"""arvr-vio-synth: the bag layout round-trips with rosbags, replays through arvr-vio-play, bad input exits 2."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.io.bags import iter_messages, topic_types
from arvr_hybrid_vio.tools.synth import main as synth_main

ROOT = Path(__file__).resolve().parent
FR1 = ROOT / "data" / "trajectories" / "freiburg1_xyz-groundtruth.txt"
RECORDER = ROOT / "ros" / "topic_recorder.py"
PLAYER = Path(sys.executable).parent / "arvr-vio-play"
START_NS = 1_700_000_000 * 10**9
SMALL = ["--width", "48", "--height", "40"]
LAYOUT = {"/cam0/image_raw": "sensor_msgs/msg/Image", "/cam0/camera_info": "sensor_msgs/msg/CameraInfo",
          "/imu0": "sensor_msgs/msg/Imu", "/ground_truth/pose": "geometry_msgs/msg/PoseStamped",
          "/tf_static": "tf2_msgs/msg/TFMessage"}


def stamp_of(message) -> int:
    header = message.header if hasattr(message, "header") else message.transforms[0].header
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    messages: dict[str, list[tuple[int, object]]] = defaultdict(list)
    for item in iter_messages(path):
        message = item.decode()
        assert stamp_of(message) == item.log_time_ns  # header stamp = log time
        messages[item.topic].append((item.log_time_ns, message))
    return messages


@pytest.fixture(scope="module")
def motion_bag(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "walk"
    assert synth_main(["--motion", "walking", "--duration", "2", "--seed", "4", "--out", str(out), *SMALL,
                       "--camera-rate", "20", "--imu-rate", "250", "--time-offset", "0.004"]) == 0
    return out


def test_image_format_writes_the_camera_as_compressed_images_of_the_same_pixels(motion_bag: Path,
                                                                               tmp_path: Path) -> None:
    """``--image-format png``: the camera on ``/cam0/image_raw/compressed`` (CompressedImage), each image the
    raw bag's pixels (same seed), at the same stamps."""
    from arvr_hybrid_vio.io.image_messages import grey_image
    out = tmp_path / "walk_png"
    assert synth_main(["--motion", "walking", "--duration", "2", "--seed", "4", "--out", str(out), *SMALL,
                       "--camera-rate", "20", "--imu-rate", "250", "--time-offset", "0.004", "--image-format", "png"]) == 0
    layout = {("/cam0/image_raw/compressed" if topic == "/cam0/image_raw" else topic):
              ("sensor_msgs/msg/CompressedImage" if topic == "/cam0/image_raw" else kind) for topic, kind in LAYOUT.items()}
    assert topic_types(out) == layout
    raw, compressed = read_bag(motion_bag)["/cam0/image_raw"], read_bag(out)["/cam0/image_raw/compressed"]
    assert [s for s, _ in compressed] == [s for s, _ in raw]
    for (_, image), (_, packed) in zip(raw, compressed):
        assert packed.format == "mono8; png compressed "
        np.testing.assert_array_equal(grey_image(packed), grey_image(image))


def test_bag_round_trips_with_exact_counts_and_stamps(motion_bag: Path) -> None:
    assert topic_types(motion_bag) == LAYOUT
    messages = read_bag(motion_bag)
    imu_stamps = START_NS + np.arange(501) * 4_000_000
    image_stamps = START_NS + np.arange(41) * 50_000_000 + 4_000_000
    assert [s for s, _ in messages["/imu0"]] == imu_stamps.tolist()
    assert [s for s, _ in messages["/ground_truth/pose"]] == imu_stamps.tolist()
    assert [s for s, _ in messages["/cam0/image_raw"]] == image_stamps.tolist()
    assert [s for s, _ in messages["/cam0/camera_info"]] == image_stamps.tolist()
    assert len(messages["/tf_static"]) == 1


def test_bag_messages_carry_the_sequence(motion_bag: Path) -> None:
    messages = read_bag(motion_bag)
    image = messages["/cam0/image_raw"][10][1]
    assert (image.width, image.height, image.encoding, image.step, image.header.frame_id) == (48, 40, "mono8", 48, "cam0")
    assert np.asarray(image.data).std() > 5.0
    info = messages["/cam0/camera_info"][0][1]
    assert info.k[0] == pytest.approx(24.0) and info.distortion_model == "plumb_bob"
    first_imu = messages["/imu0"][0][1]
    accel = np.array([first_imu.linear_acceleration.x, first_imu.linear_acceleration.y, first_imu.linear_acceleration.z])
    assert np.linalg.norm(accel) == pytest.approx(9.81, abs=0.3)  # at rest: gravity (+ noise and bias)
    pose = messages["/ground_truth/pose"][0][1].pose
    assert messages["/ground_truth/pose"][0][1].header.frame_id == "world"
    assert pose.position.z == pytest.approx(1.65)
    transforms = {t.child_frame_id: t for t in messages["/tf_static"][0][1].transforms}
    assert set(transforms) == {"cam0", "imu0"} and transforms["cam0"].header.frame_id == "base_link"
    q = transforms["cam0"].transform.rotation
    optical_z_in_body = quat_wxyz_to_matrix(np.array([q.w, q.x, q.y, q.z]))[:, 2]
    assert optical_z_in_body[0] > 0.9  # the camera looks forward along body x


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_trajectory_file_drives_the_bag(tmp_path: Path, storage: str) -> None:
    out = tmp_path / "fr1"
    assert synth_main(["--trajectory", str(FR1), "--duration", "1.0", "--trajectory-start", "2.0", "--seed", "1",
                       "--out", str(out), "--format", storage, *SMALL]) == 0
    assert (out / f"fr1.{'mcap' if storage == 'mcap' else 'db3'}").exists()
    poses = read_bag(out)["/ground_truth/pose"]
    assert len(poses) == 201
    raw = np.loadtxt(FR1)
    first = raw[np.argmin(np.abs(raw[:, 0] - raw[0, 0] - 2.0)), 1:4]
    position = poses[0][1].pose.position
    assert np.allclose([position.x, position.y, position.z], first, atol=0.01)  # smoothed, not shifted


@pytest.mark.skipif(not PLAYER.exists(), reason="arvr-vio-play is not installed in this venv")
def test_bag_replays_through_the_player_to_another_process(motion_bag: Path) -> None:
    messages = read_bag(motion_bag)
    specs = [f"{topic}:{LAYOUT[topic]}:{len(messages[topic])}" + (":latched" if topic == "/tf_static" else "")
             for topic in LAYOUT]
    recorder = subprocess.Popen([sys.executable, str(RECORDER), "--timeout", "40", *specs],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert recorder.stdout.readline().strip() == "READY"
    player = subprocess.run([str(PLAYER), str(motion_bag), "--rate", "4", "--wait-subscribers", "20"],
                            capture_output=True, text=True, timeout=90)
    out, err = recorder.communicate(timeout=60)
    assert player.returncode == 0, player.stderr
    received = json.loads(out.strip().splitlines()[-1])
    for topic in LAYOUT:
        assert [stamp for stamp, _ in received[topic]] == [stamp for stamp, _ in messages[topic]], (topic, player.stderr)


def write_tum(path: Path, stamps: np.ndarray, positions: np.ndarray) -> Path:
    rows = [f"{t:.6f} {p[0]} {p[1]} {p[2]} 0 0 0 1" for t, p in zip(stamps, positions)]
    path.write_text("# t tx ty tz qx qy qz qw\n" + "\n".join(rows) + "\n")
    return path


def bad_trajectories(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    stamps = np.arange(0, 5, 0.01)
    positions = np.c_[np.sin(stamps), np.zeros_like(stamps), np.ones_like(stamps)]
    nan = positions.copy()
    nan[100, 1] = np.nan
    swapped = stamps.copy()
    swapped[[50, 51]] = swapped[[51, 50]]
    return {
        "few": (write_tum(tmp_path / "few.txt", stamps[:4], positions[:4]), "4 poses"),
        "nan": (write_tum(tmp_path / "nan.txt", stamps, nan), "NaN"),
        "order": (write_tum(tmp_path / "order.txt", swapped, positions), "not strictly increasing"),
        "short": (write_tum(tmp_path / "short.txt", stamps, positions), "lasts"),
    }


@pytest.mark.parametrize("case", ["few", "nan", "order", "short"])
def test_bad_trajectory_exits_2_without_a_bag(tmp_path: Path, case: str, capsys) -> None:
    path, words = bad_trajectories(tmp_path)[case]
    out = tmp_path / "bag"
    assert synth_main(["--trajectory", str(path), "--duration", "10", "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and words in err
    assert not out.exists() and not (tmp_path / "bag.partial").exists()


@pytest.mark.parametrize("flag", ["--imu-rate", "--camera-rate", "--duration"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_non_positive_rates_and_durations_exit_2(tmp_path: Path, flag: str, value: str, capsys) -> None:
    out = tmp_path / "bag"
    args = {"--motion": "head", "--duration": "2", "--out": str(out)}
    args[flag] = value
    argv = [item for pair in args.items() for item in pair] + SMALL
    assert synth_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must" in err
    assert not out.exists() and not (tmp_path / "bag.partial").exists()


def test_cli_process_exits_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "arvr_hybrid_vio.tools.synth", "--trajectory", str(tmp_path / "none.txt"),
                             "--duration", "1", "--out", str(tmp_path / "bag")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "not found" in result.stderr
