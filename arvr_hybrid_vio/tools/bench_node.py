"""The ROS side of ``arvr-vio-bench``: the real VIO node in its own process, and a client that talks to it.

The bench starts ``arvr-vio-node`` as a child process (its own interpreter, as on a
rig); :class:`BenchClient` publishes the camera and IMU topics to it and records
``/vio/odometry``, ``/vio/odometry_imu_rate`` and ``/diagnostics``;
:class:`Session` spins the client in a background thread and resets the node
between runs. The measurements themselves are in ``bench_streams``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image, Imu
from std_srvs.srv import Trigger

from arvr_hybrid_vio.core.timing import BenchmarkError, process_rss_bytes
from arvr_hybrid_vio.ros.conversions import time_to_ns

NODE_NAME = "vio_node"
STARTUP_TIMEOUT_S = 120.0  # the node imports torch and loads the model; a shared machine is slow
SETTLE_S = 0.5  # no new odometry for this long after the stream: the node is done
DIAGNOSTICS_PERIOD_S = 0.25  # asked of the node, so counters are fresh soon after a run
SKIPPED_KEYS = ("estimator.frames_skipped_nonfinite", "estimator.frames_skipped_invalid",
                "estimator.frames_skipped_out_of_order")


def _reliable(depth: int) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)


class NodeProcess:
    """``arvr-vio-node`` in a child process, with its log in a file."""

    def __init__(self, *, model: str, config: Path, device: str, log_path: Path) -> None:
        """Start the node with the parameter file, the model and the device.

        Raises:
            BenchmarkError: the node executable cannot be found.
        """
        self.log_path = log_path
        command = [*_node_command(), "--ros-args", "--params-file", str(config),
                   "-p", f"vio.model_path:={model}", "-p", f"estimator.device:={device}",
                   "-p", f"vio.diagnostics_period_s:={DIAGNOSTICS_PERIOD_S}"]
        self._log = log_path.open("w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy())

    @property
    def pid(self) -> int:
        """The node's process id."""
        return self.process.pid

    def check_alive(self) -> None:
        """Raises BenchmarkError (with the end of its log) if the node has exited."""
        if self.process.poll() is not None:
            tail = self.log_path.read_text()[-2000:]
            raise BenchmarkError(f"arvr-vio-node exited with code {self.process.returncode}; log {self.log_path}:\n"
                                 f"{tail}")

    def rss_bytes(self) -> int:
        """The node's resident memory."""
        return process_rss_bytes(self.pid)

    def stop(self) -> None:
        """Ctrl-C the node (as a user would); terminate, then kill it, if it does not end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                self._terminate()
        self._log.close()

    def _terminate(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5.0)


def _node_command() -> list[str]:
    script = Path(sys.executable).parent / "arvr-vio-node"
    if script.is_file():
        return [str(script)]
    found = shutil.which("arvr-vio-node")
    return [found] if found else [sys.executable, "-m", "arvr_hybrid_vio.nodes.vio_node"]


@dataclass
class Inbox:
    """What the bench received (callbacks append; the main thread reads after a run).

    Odometry times are wall-clock seconds (``time.time()``, CLOCK_REALTIME): the clock DDS
    stamps each sample's ``source_timestamp`` with when the node publishes it, so "published by
    the node" and "received here" can both be set against the bench's own publish times.
    """

    odometry: dict[int, tuple[float, float]] = field(default_factory=dict)  # stamp_ns -> (received, published)
    imu_rate: list[tuple[int, float]] = field(default_factory=list)  # (stamp_ns, received), wall clock
    diagnostics: tuple[float, dict[str, str]] | None = None  # (monotonic receive time, key values)


class BenchClient(Node):
    """Publishes the sensor streams and records the node's outputs."""

    def __init__(self, *, image_topic: str = "/cam0/image_raw", imu_topic: str = "/imu0") -> None:
        super().__init__("vio_bench")
        self.inbox = Inbox()
        self.image_pub = self.create_publisher(Image, image_topic, _reliable(200))
        self.imu_pub = self.create_publisher(Imu, imu_topic, _reliable(5000))
        self.create_subscription(Odometry, "/vio/odometry", self._on_odometry, _reliable(1000))
        self.create_subscription(Odometry, "/vio/odometry_imu_rate", self._on_imu_rate, _reliable(5000))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, _reliable(10))
        self.reset_client = self.create_client(Trigger, f"/{NODE_NAME}/reset")

    def _on_odometry(self, msg: Odometry, info: MessageInfo) -> None:
        self.inbox.odometry[time_to_ns(msg.header.stamp)] = (time.time(), info["source_timestamp"] * 1e-9)

    def _on_imu_rate(self, msg: Odometry) -> None:
        self.inbox.imu_rate.append((time_to_ns(msg.header.stamp), time.time()))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(": vio"):
                self.inbox.diagnostics = (time.monotonic(), {kv.key: kv.value for kv in status.values})

    def connected(self) -> bool:
        """The node subscribes to both inputs, publishes odometry and has sent diagnostics."""
        return (self.image_pub.get_subscription_count() > 0 and self.imu_pub.get_subscription_count() > 0
                and self.count_publishers("/vio/odometry") > 0 and self.inbox.diagnostics is not None)


class Session:
    """A running node plus the bench client, spun in a background thread."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.client = BenchClient()
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.client)
        self._thread = threading.Thread(target=self.executor.spin, name="bench_spin", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout_s: float = STARTUP_TIMEOUT_S) -> float:
        """Seconds until the node is up and discovered.

        Raises:
            BenchmarkError: the node died or did not connect in time.
        """
        started = time.monotonic()
        while not self.client.connected():
            self.node.check_alive()
            if time.monotonic() - started > timeout_s:
                raise BenchmarkError(f"arvr-vio-node not connected after {timeout_s:.0f} s (log {self.node.log_path})")
            time.sleep(0.1)
        return time.monotonic() - started

    def fresh_diagnostics(self, after: float, timeout_s: float = 10.0) -> dict[str, str]:
        """The first diagnostics received after the monotonic time ``after``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            received = self.client.inbox.diagnostics
            if received is not None and received[0] > after:
                return received[1]
            self.node.check_alive()
            time.sleep(0.02)
        raise BenchmarkError(f"no /diagnostics from arvr-vio-node within {timeout_s:.0f} s")

    def reset_node(self) -> None:
        """Call ``~/reset`` and wait for the answer."""
        if not self.client.reset_client.wait_for_service(timeout_sec=10.0):
            raise BenchmarkError(f"/{NODE_NAME}/reset service not available")
        future = self.client.reset_client.call_async(Trigger.Request())
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not future.done() or not future.result().success:
            raise BenchmarkError(f"/{NODE_NAME}/reset did not succeed")

    def close(self) -> None:
        """Stop spinning and destroy the client (the node process is stopped by its owner)."""
        self.executor.shutdown(timeout_sec=2.0)
        self.client.destroy_node()
        self._thread.join(timeout=5.0)
