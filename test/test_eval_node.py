"""The live evaluation node over real DDS: a bag replayed by arvr-vio-play gives the CLI's report.

Three processes per test: the node (``arvr-vio-eval-node``), the player
(``arvr-vio-play --clock``, the node runs with ``use_sim_time``), and this test,
which listens to /diagnostics and calls ``~/save_report``.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from eval_helpers import assert_reports_equal, make_trajectory, noisy, write_eval_bag
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import Trigger

from arvr_hybrid_vio.tools.eval_cli import main as eval_cli_main

BIN = Path(sys.executable).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def replay_bag(tmp_path_factory) -> Path:
    """3 s of ground truth at 100 Hz and an estimate at 33 Hz, on every supported topic type."""
    gt = make_trajectory(300)
    est = noisy(gt.subset(np.arange(0, 300, 3)), sigma_m=0.01, sigma_rad=0.005, seed=7)
    return write_eval_bag(tmp_path_factory.mktemp("replay") / "replay_bag", gt, est)


@pytest.fixture()
def ros_node() -> Iterator[tuple[rclpy.node.Node, SingleThreadedExecutor]]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("eval_node_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def _cli_report(tmp_path: Path, bag: Path, args: list[str]) -> dict:
    path = tmp_path / "cli.json"
    assert eval_cli_main([str(bag), str(bag), *args, "--json", str(path)]) == 0
    return json.loads(path.read_text())


def _start_node(parameters: dict[str, str]) -> subprocess.Popen:
    ros_args = [item for key, value in parameters.items() for item in ("-p", f"{key}:={value}")]
    return subprocess.Popen([str(BIN / "arvr-vio-eval-node"), "--ros-args", "-p", "use_sim_time:=true", *ros_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _play(bag: Path, topics: list[str], executor: SingleThreadedExecutor) -> None:
    """Replay ``topics`` at double speed with /clock, spinning the test node meanwhile."""
    player = subprocess.Popen([str(BIN / "arvr-vio-play"), str(bag), "--rate", "2", "--clock", "--delay", "0.3",
                               "--wait-subscribers", "15", "--topics", *topics],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 40
    while player.poll() is None and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    if player.poll() is None:
        player.kill()
    output = player.communicate()[0]
    assert player.returncode == 0, output


def _stop(node_process: subprocess.Popen, signum: int) -> str:
    node_process.send_signal(signum)
    try:
        output = node_process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        node_process.kill()
        output = node_process.communicate()[0]
    assert node_process.returncode == 0, output
    return output


def _call_save_report(node: rclpy.node.Node, executor: SingleThreadedExecutor) -> Trigger.Response:
    client = node.create_client(Trigger, "/eval_node/save_report")
    assert client.wait_for_service(timeout_sec=15.0)
    future = client.call_async(Trigger.Request())
    executor.spin_until_future_complete(future, timeout_sec=30.0)
    assert future.done()
    return future.result()


def test_save_report_service_gives_the_cli_report(replay_bag, tmp_path, ros_node) -> None:
    node, executor = ros_node
    diagnostics: list[DiagnosticArray] = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
    report_path = tmp_path / "node" / "report.json"
    process = _start_node({"est_topic": "/vio/odometry", "gt_topic": "/ground_truth/pose",
                           "report_path": str(report_path), "report_period_s": "0.25"})
    try:
        _play(replay_bag, ["/ground_truth/pose", "/vio/odometry"], executor)
        response = _call_save_report(node, executor)
        assert response.success, response.message
        assert "ATE rmse" in response.message
        expected = _cli_report(tmp_path, replay_bag,
                               ["--gt-topic", "/ground_truth/pose", "--est-topic", "/vio/odometry"])
        assert_reports_equal(json.loads(report_path.read_text()), expected, rel=1e-9)
        assert (tmp_path / "node" / "report.png").read_bytes()[:8] == PNG_MAGIC
        mine = [s for array in diagnostics for s in array.status if s.name.startswith("eval_node")]
        assert mine and mine[-1].level == DiagnosticStatus.OK
        assert {kv.key for kv in mine[-1].values} >= {"ate_rmse_m", "rpe_trans_rmse_m", "matched_poses"}
        report_path.unlink()
    finally:
        output = _stop(process, signal.SIGTERM)
    assert "SIGTERM" in output
    assert_reports_equal(json.loads(report_path.read_text()), expected, rel=1e-9)  # rewritten on SIGTERM


def test_sigint_writes_the_report_for_tf_ground_truth(replay_bag, tmp_path, ros_node) -> None:
    _, executor = ros_node
    report_path = tmp_path / "tf_report.json"
    process = _start_node({"est_topic": "/vio/transform", "gt_parent_frame": "world", "gt_child_frame": "imu",
                           "align": "sim3", "rpe_unit": "f", "rpe_delta": "5", "report_path": str(report_path),
                           "plot_path": str(tmp_path / "tf_plot.png")})
    try:
        _play(replay_bag, ["/tf", "/tf_static", "/vio/transform"], executor)
    finally:
        output = _stop(process, signal.SIGINT)
    assert "SIGINT" in output
    expected = _cli_report(tmp_path, replay_bag, ["--gt-frames", "world", "imu", "--est-topic", "/vio/transform",
                                                  "--align", "sim3", "--rpe-unit", "f", "--rpe-delta", "5"])
    assert expected["matched_poses"] == 100
    assert_reports_equal(json.loads(report_path.read_text()), expected, rel=1e-9)
    assert (tmp_path / "tf_plot.png").read_bytes()[:8] == PNG_MAGIC
