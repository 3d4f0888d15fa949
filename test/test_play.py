"""arvr-vio-play: schedule (ROS-free), ROS 1 conversion, cross-process replay with exact counts, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from sensor_msgs.msg import Imu

from arvr_hybrid_vio.io.bags import BagWriter, iter_messages, typestore
from arvr_hybrid_vio.tools.play import main as play_main
from arvr_hybrid_vio.tools.play_schedule import (
    PlayMessage,
    Scheduled,
    iter_cdr_messages,
    read_topic_plans,
    schedule,
    sim_time_ns,
)

ROOT = Path(__file__).resolve().parent
TF_EXAMPLE = ROOT / "data" / "bags" / "tf_example"
RECORDER = ROOT / "ros" / "topic_recorder.py"
PLAYER = Path(sys.executable).parent / "arvr-vio-play"
START_NS = 1_700_000_000_000_000_000
# Fast DDS discovery here takes well under a second, but now and then one announcement period (~3 s).
WAIT = ("--wait-subscribers", "15")
TYPES = {"/imu0": "sensor_msgs/msg/Imu", "/cam0/image_raw": "sensor_msgs/msg/Image",
         "/ground_truth/pose": "geometry_msgs/msg/PoseStamped", "/tf_static": "tf2_msgs/msg/TFMessage"}


# ------------------------------------------------------------------ bags

def _header(types: Any, stamp_ns: int, frame_id: str, **extra: Any) -> Any:
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id, **extra)


def sensor_messages(types: Any, *, ros1: bool = False) -> list[tuple[str, int, Any]]:
    """(topic, stamp_ns, message) of a 0.5 s rig: 200 Hz IMU, 20 Hz mono8 camera, 40 Hz pose, one /tf_static."""
    extra = {"seq": 0} if ros1 else {}
    vec3, quat = types["geometry_msgs/msg/Vector3"], types["geometry_msgs/msg/Quaternion"]
    out: list[tuple[str, int, Any]] = []
    transform = types["geometry_msgs/msg/Transform"](translation=vec3(x=0.1, y=0.0, z=0.0),
                                                     rotation=quat(x=0, y=0, z=0, w=1))
    tf = types["geometry_msgs/msg/TransformStamped"](header=_header(types, START_NS, "base_link", **extra),
                                                     child_frame_id="imu", transform=transform)
    out.append(("/tf_static", START_NS, types["tf2_msgs/msg/TFMessage"](transforms=[tf])))
    for i in range(100):
        stamp = START_NS + i * 5_000_000
        imu = types["sensor_msgs/msg/Imu"](
            header=_header(types, stamp, "imu", **extra), orientation=quat(x=0, y=0, z=0, w=1),
            orientation_covariance=np.full(9, -1.0), angular_velocity=vec3(x=0.01 * i, y=0.0, z=-0.5),
            angular_velocity_covariance=np.zeros(9), linear_acceleration=vec3(x=0.0, y=9.81, z=float(i)),
            linear_acceleration_covariance=np.zeros(9))
        out.append(("/imu0", stamp, imu))
        if i % 10 == 0:
            pixels = np.full(48 * 64, i, dtype=np.uint8)
            out.append(("/cam0/image_raw", stamp, types["sensor_msgs/msg/Image"](
                header=_header(types, stamp, "cam0", **extra), height=48, width=64, encoding="mono8",
                is_bigendian=0, step=64, data=pixels)))
        if i % 5 == 0 and not ros1:
            pose = types["geometry_msgs/msg/Pose"](position=types["geometry_msgs/msg/Point"](x=i * 0.01, y=0.0, z=1.0),
                                                   orientation=quat(x=0, y=0, z=0, w=1))
            out.append(("/ground_truth/pose", stamp, types["geometry_msgs/msg/PoseStamped"](
                header=_header(types, stamp, "world"), pose=pose)))
    return out


def write_ros2_bag(path: Path, storage: str) -> Path:
    with BagWriter(path, storage=storage) as bag:
        for topic, msgtype in TYPES.items():
            bag.add_topic(topic, msgtype, latched=topic == "/tf_static")
        for topic, stamp, message in sensor_messages(typestore().types):
            bag.write(topic, stamp, message)
    return path


def ros1_typestore() -> Any:
    """ROS 1 Noetic types plus tf2_msgs/TFMessage (in tf2_msgs, not in rosbags' Noetic store)."""
    store = get_typestore(Stores.ROS1_NOETIC)
    store.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage"))
    return store


def write_ros1_bag(path: Path) -> Path:
    store = ros1_typestore()
    writer = Ros1Writer(path)
    writer.open()
    connections = {topic: writer.add_connection(topic, TYPES[topic], typestore=store,
                                                latching=1 if topic == "/tf_static" else None)
                   for topic in ("/tf_static", "/imu0", "/cam0/image_raw")}
    for topic, stamp, message in sensor_messages(store.types, ros1=True):
        writer.write(connections[topic], stamp, store.serialize_ros1(message, TYPES[topic]))
    writer.close()
    return path


def bag_stamp_ns(message: Any) -> int:
    header = getattr(message, "header", None) or message.transforms[0].header
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def bag_truth(path: Path) -> dict[str, list[list[Any]]]:
    """Per topic, [header stamp, sha256 of the CDR bytes] of every message, in bag order."""
    truth: dict[str, list[list[Any]]] = {}
    for message in iter_messages(path):
        truth.setdefault(message.topic, []).append(
            [bag_stamp_ns(message.decode()), hashlib.sha256(message.rawdata).hexdigest()])
    return truth


# -------------------------------------------------------------- processes

def start_recorder(specs: list[str], timeout_s: float = 30.0) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(RECORDER), "--timeout", str(timeout_s), *specs],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.strip() == "READY", process.stderr.read()
    return process


def recorder_specs(truth: dict[str, list[list[Any]]], latched: set[str]) -> list[str]:
    return [f"{topic}:{read_type(topic)}:{len(rows)}" + (":latched" if topic in latched else "")
            for topic, rows in truth.items()]


def read_type(topic: str) -> str:
    return TYPES.get(topic, "tf2_msgs/msg/TFMessage")


def replay(bag: Path, truth: dict[str, list[list[Any]]], *player_args: str,
           extra_specs: tuple[str, ...] = ()) -> tuple[dict[str, list[list[Any]]], subprocess.CompletedProcess, float]:
    """Record in one process while the player runs in another; returns (received, player result, player seconds)."""
    plans = read_topic_plans(bag)
    recorder = start_recorder(recorder_specs(truth, {p.topic for p in plans if p.latched}) + list(extra_specs))
    started = time.monotonic()
    player = subprocess.run([str(PLAYER), str(bag), *WAIT, *player_args], capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - started
    out, err = recorder.communicate(timeout=60)
    assert player.returncode == 0, player.stderr
    assert recorder.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), player, seconds


# ------------------------------------------------------------ schedule

def _messages(stamps_ns: list[int]) -> list[PlayMessage]:
    return [PlayMessage("/t", stamp, b"") for stamp in stamps_ns]


def test_schedule_scales_by_rate_and_delay() -> None:
    items = list(schedule(lambda: _messages([10**9, 2 * 10**9, 4 * 10**9]), rate=2.0, delay_s=0.5))
    assert [item.offset_s for item in items] == [0.5, 1.0, 2.0]
    assert {item.lap for item in items} == {0}


def test_schedule_loops_continue_in_time() -> None:
    items = schedule(lambda: _messages([0, 10**9]), rate=1.0, delay_s=0.0, loop=True)
    first = [next(items) for _ in range(5)]
    assert [(item.offset_s, item.lap) for item in first] == [(0.0, 0), (1.0, 0), (1.0, 1), (2.0, 1), (2.0, 2)]
    assert list(schedule(lambda: [], loop=True)) == []  # an empty bag does not spin forever


def test_schedule_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        list(schedule(lambda: _messages([0]), rate=0.0))


def test_sim_time_interpolates_and_clamps() -> None:
    previous = Scheduled(1.0, 0, PlayMessage("/t", 5_000_000_000, b""))
    upcoming = Scheduled(3.0, 0, PlayMessage("/t", 9_000_000_000, b""))
    assert sim_time_ns(previous, upcoming, 2.0, rate=2.0) == 7_000_000_000
    assert sim_time_ns(previous, upcoming, 10.0, rate=2.0) == 9_000_000_000
    assert sim_time_ns(None, upcoming, 0.0, rate=2.0) == 9_000_000_000
    assert sim_time_ns(previous, Scheduled(3.0, 1, upcoming.message), 2.0, rate=2.0) == 9_000_000_000


def test_topic_plans_mark_latched_topics(tmp_path: Path) -> None:
    plans = {plan.topic: plan for plan in read_topic_plans(write_ros2_bag(tmp_path / "bag", "sqlite3"))}
    assert plans["/tf_static"].latched and not plans["/imu0"].latched
    assert (plans["/imu0"].count, plans["/cam0/image_raw"].count, plans["/ground_truth/pose"].count) == (100, 10, 20)
    tf_plans = {plan.topic: plan for plan in read_topic_plans(TF_EXAMPLE)}
    assert tf_plans["/tf"].count == 517 and tf_plans["/tf_static"].latched


def test_ros1_messages_become_ros2_cdr(tmp_path: Path) -> None:
    bag = write_ros1_bag(tmp_path / "rig.bag")
    imus = [m for m in iter_cdr_messages(bag, ["/imu0"])]
    assert len(imus) == 100
    msg = deserialize_message(imus[7].cdr, Imu)
    assert (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec) == START_NS + 7 * 5_000_000 == imus[7].log_time_ns
    assert msg.header.frame_id == "imu" and msg.linear_acceleration.z == 7.0 and msg.angular_velocity.x == 0.07


# -------------------------------------------------------- cross-process

def assert_received_exactly(received: dict[str, list[list[Any]]], truth: dict[str, list[list[Any]]],
                            *, compare_bytes: bool = True) -> None:
    for topic, rows in truth.items():
        got = received[topic]
        assert len(got) == len(rows), f"{topic}: received {len(got)} of {len(rows)}"
        assert [r[0] for r in got] == [r[0] for r in rows], f"{topic}: stamps differ"
        if compare_bytes:
            assert [r[1] for r in got] == [r[1] for r in rows], f"{topic}: bytes differ"


def test_replays_real_bag_across_processes() -> None:
    truth = bag_truth(TF_EXAMPLE)
    assert {topic: len(rows) for topic, rows in truth.items()} == {"/tf": 517, "/tf_static": 1}
    received, _, _ = replay(TF_EXAMPLE, truth, "--rate", "100")
    assert_received_exactly(received, truth)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_replays_written_bag_across_processes(tmp_path: Path, storage: str) -> None:
    bag = write_ros2_bag(tmp_path / f"rig_{storage}", storage)
    truth = bag_truth(bag)
    assert sum(len(rows) for rows in truth.values()) == 131
    if storage == "mcap":  # a lone .mcap file, without the folder's metadata.yaml
        target = tmp_path / "lone" / "rig.mcap"
        target.parent.mkdir()
        shutil.copy(next(bag.glob("*.mcap")), target)
    else:  # the .db3 inside its rosbag2 folder
        target = next(bag.glob("*.db3"))
    received, _, _ = replay(target, truth, "--rate", "5")
    assert_received_exactly(received, truth)


def test_replays_ros1_bag_across_processes(tmp_path: Path) -> None:
    bag = write_ros1_bag(tmp_path / "rig.bag")
    truth = {topic: [[stamp, ""] for t, stamp, _ in sensor_messages(ros1_typestore().types, ros1=True)
                     if t == topic] for topic in ("/tf_static", "/imu0", "/cam0/image_raw")}
    received, _, _ = replay(bag, truth, "--rate", "5")
    assert_received_exactly(received, truth, compare_bytes=False)


def test_clock_delay_and_topic_filter(tmp_path: Path) -> None:
    bag = write_ros2_bag(tmp_path / "rig", "mcap")
    truth = {"/imu0": bag_truth(bag)["/imu0"]}
    received, player, seconds = replay(bag, truth, "--clock", "--delay", "1.0", "--rate", "2", "--topics", "/imu0",
                                       extra_specs=("/clock:rosgraph_msgs/msg/Clock:-1",))
    assert_received_exactly(received, truth)
    assert set(received) == {"/imu0", "/clock"}
    clock = [row[0] for row in received["/clock"]]
    assert len(clock) >= 20  # 40 Hz over the 1 s delay and the 0.25 s of playback, at least
    assert clock == sorted(clock) and clock[0] == START_NS and clock[-1] == truth["/imu0"][-1][0]
    assert seconds >= 1.0 + 0.495 / 2, player.stderr  # the delay, then the bag at twice its speed
    assert "100%" in player.stderr  # the progress bar


def test_loop_then_ctrl_c_ends_cleanly(tmp_path: Path) -> None:
    bag = write_ros2_bag(tmp_path / "rig", "sqlite3")
    recorder = start_recorder(["/imu0:sensor_msgs/msg/Imu:250"])
    player = subprocess.Popen([str(PLAYER), str(bag), *WAIT, "--loop", "--rate", "4", "--topics", "/imu0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, _ = recorder.communicate(timeout=60)
        player.send_signal(signal.SIGINT)
        _, err = player.communicate(timeout=30)
    finally:  # a looping player left behind would publish into every later test
        for process in (player, recorder):
            if process.poll() is None:
                process.kill()
    assert player.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    stamps = [row[0] for row in json.loads(out.strip().splitlines()[-1])["/imu0"]]
    assert len(stamps) >= 250 and stamps[100:200] == stamps[:100]  # the second lap repeats the first


# ------------------------------------------------------------- bad input

def _one_error_line(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("arvr-vio-play: "), err
    for needle in needles:
        assert needle in err[0], err


def test_missing_bag_exits_2_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = subprocess.run([str(PLAYER), str(missing)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"arvr-vio-play: {missing}: no such bag (expected a rosbag2 folder, .db3, .mcap or ROS 1 .bag)"]


@pytest.mark.parametrize("name", ["corrupt.db3", "corrupt.mcap", "corrupt.bag"])
def test_corrupt_bag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    corrupt = tmp_path / name
    corrupt.write_bytes(os.urandom(512))
    assert play_main([str(corrupt)]) == 2
    _one_error_line(capsys, str(corrupt), "cannot open bag")


def test_truncated_bag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_ros2_bag(tmp_path / "rig", "mcap")
    storage = next(bag.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    assert play_main([str(bag), "--wait-subscribers", "0"]) == 2
    _one_error_line(capsys, str(bag))


def test_unknown_topic_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert play_main([str(TF_EXAMPLE), "--topics", "/tf", "/odom"]) == 2
    _one_error_line(capsys, str(TF_EXAMPLE), "'/odom'", "not in bag")


def test_unpublishable_type_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typestore().register(get_types_from_msg("int32 value", "arvr_test_msgs/msg/Ping"))
    bag = tmp_path / "custom"
    with BagWriter(bag) as writer:
        writer.add_topic("/ping", "arvr_test_msgs/msg/Ping")
        writer.write("/ping", START_NS, typestore().types["arvr_test_msgs/msg/Ping"](value=3))
    assert play_main([str(bag)]) == 2
    _one_error_line(capsys, str(bag), "/ping", "arvr_test_msgs/msg/Ping", "no Python message module")


_HANGING_TEARDOWN = """
import re, sys
from arvr_hybrid_vio.tools import play
play.TEARDOWN_S, play.TEARDOWN_BACKSTOP_S = 0.5, 0.5
class Node:  # destroy_node spinning in C with the GIL held, as Fast DDS's teardown was seen to
    def destroy_node(self):
        re.match(r"(a+)+$", "a" * 40 + "b")  # catastrophic backtracking: minutes in C, never a bytecode boundary
play._teardown(Node(), 0)
"""


def test_a_teardown_hanging_with_the_gil_held_still_ends_the_player() -> None:
    """The Python timer cannot fire while the hang holds the GIL; faulthandler's C watchdog ends the process."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _HANGING_TEARDOWN], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15.0
    assert done.returncode == 1 and "Timeout" in done.stderr, done.stderr[-500:]
    assert "destroy_node" in done.stderr  # the stack of the hang, for the log
