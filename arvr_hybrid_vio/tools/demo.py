"""arvr-vio-demo (``make demo``): replay a bag through the VIO node and score it live.

Usage::

    arvr-vio-demo                                   # the bundled 8 s synthetic sequence
    arvr-vio-demo --bag PATH --model imu-only --out runs/mine --rate 0.5

Three processes talk over DDS, as on a robot: the package's bag player
(``arvr-vio-play --clock``), the VIO node (``arvr-vio-node``, ``use_sim_time``) and the
evaluation node (``arvr-vio-eval-node``), which compares ``/vio/odometry`` with the
bag's ground truth. At the end the demo prints the evaluation report and the node's
health counters, and leaves ``report.json``, ``trajectory.png`` and the node logs in
``--out`` (default ``runs/demo``).

The bundled bag (``test/data/bags/synthetic_demo``, 160x128 at 30 Hz, IMU 200 Hz) was made with::

    arvr-vio-synth --motion head --duration 8 --seed 42 --out test/data/bags/synthetic_demo
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arvr_hybrid_vio.core.devices import DEVICES
from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.io.bags import BagError, open_bag, resolve_bag_path, topic_types
from arvr_hybrid_vio.nodes.vio_node_config import installed_share_path

PROG = "arvr-vio-demo"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BAG = ROOT / "test" / "data" / "bags" / "synthetic_demo"
DEFAULT_OUT = Path("runs") / "demo"
NEEDED_TOPICS = {"/cam0/image_raw": "sensor_msgs/msg/Image", "/imu0": "sensor_msgs/msg/Imu"}
LOG = logging.getLogger(PROG)


class DemoError(VioError):
    """A process of the demo's graph failed or timed out (exit code 1)."""


class DemoInputError(DemoError):
    """A missing or unusable bag, model, parameter file or console script (exit code 2)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--bag", type=Path, default=DEFAULT_BAG, help=f"bag to replay (default {DEFAULT_BAG})")
    parser.add_argument("--model", default="", help="model file or 'imu-only' (default: models/hybrid.safetensors "
                        "if present, else imu-only)")
    parser.add_argument("--params", type=Path, default=None,
                        help="VIO node parameter YAML (default config/vio_synthetic.yaml)")
    parser.add_argument("--gt-topic", default="/ground_truth/pose", help="ground-truth topic of the bag")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor (default 1.0)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="inference device")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds for the nodes to come up")
    args = parser.parse_args(argv)
    if not args.rate > 0 or not args.startup_timeout > 0:
        parser.error("--rate and --startup-timeout must be > 0")
    return args


# ------------------------------------------------------------------ inputs

def default_model() -> str:
    """The shipped hybrid model when present, else the IMU-only baseline."""
    shipped = ROOT / "models" / "hybrid.safetensors"
    return str(shipped) if shipped.is_file() else "imu-only"


def default_params() -> Path:
    """config/vio_synthetic.yaml of the install (ament index) or of the source tree."""
    installed = installed_share_path("config", "vio_synthetic.yaml")
    return installed if installed is not None and installed.is_file() else ROOT / "config" / "vio_synthetic.yaml"


def check_inputs(args: argparse.Namespace) -> tuple[Path, str, Path, list[str]]:
    """The bag, model, parameter file and the topics to play, checked before anything starts.

    Raises:
        DemoInputError: a missing file, or a bag without camera, IMU or ground-truth topics.
    """
    try:
        bag = resolve_bag_path(args.bag)
        types = topic_types(bag)
    except BagError as exc:
        raise DemoInputError(str(exc)) from exc
    needed = dict(NEEDED_TOPICS, **{args.gt_topic: ""})
    missing = [t for t, kind in needed.items() if t not in types or (kind and types[t] != kind)]
    if missing:
        raise DemoInputError(f"{bag}: missing topic(s) {missing} (has {sorted(types)})")
    model = args.model or default_model()
    if model != "imu-only" and not Path(model).is_file():
        raise DemoInputError(f"{model}: no such model file (pass --model PATH or --model imu-only)")
    params = args.params or default_params()
    if not params.is_file():
        raise DemoInputError(f"{params}: no such parameter file")
    return bag, model, params, sorted(t for t in types if t != "/tf_static")


def executable(name: str) -> str:
    """A console script of this install (next to the running Python first, then on PATH).

    Raises:
        DemoInputError: the script is not installed.
    """
    sibling = Path(sys.executable).parent / name
    found = str(sibling) if sibling.is_file() else shutil.which(name)
    if not found:
        raise DemoInputError(f"{name}: console script not found (install the package: make setup)")
    return found


# --------------------------------------------------------------- processes

class Children:
    """The demo's child processes; every one is stopped (SIGINT, then SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[Any] = []

    def start(self, name: str, command: list[str], *, log: bool = True) -> subprocess.Popen:
        """Start ``command``; its output goes to ``<log_dir>/<name>.log`` (or to this terminal)."""
        stream = None
        if log:
            stream = open(self._log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed in stop_all
            self._logs.append(stream)
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT if log else None,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = process
        return process

    def check_alive(self) -> None:
        """Raises DemoError naming the log of a child that exited early."""
        for name, process in self.processes.items():
            if process.poll() is not None and name != "player":
                raise DemoError(f"{name} exited with code {process.returncode}; see {self._log_dir / name}.log")

    def stop(self, name: str, *, timeout_s: float = 15.0) -> int | None:
        """SIGINT one child and wait; escalate if it does not end. Returns its exit code."""
        process = self.processes.get(name)
        if process is None:
            return None
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            process.send_signal(sig)
            try:
                process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                LOG.warning("%s did not stop after %s", name, sig.name)
        return process.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name, timeout_s=10.0)
        for stream in self._logs:
            stream.close()


def ros_environment() -> None:
    """A private DDS domain on this host unless the caller chose one."""
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


# ------------------------------------------------------------------ graph

class Watcher:
    """The demo's own node: waits for the graph, follows odometry and the VIO node's diagnostics."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import Odometry

        from arvr_hybrid_vio.ros.qos import OUTPUT_QOS

        self._rclpy = rclpy
        rclpy.init(args=[])
        self.node = rclpy.create_node("arvr_vio_demo")
        self.odometry_count = 0
        self.last_odometry = time.monotonic()
        self.vio_health: dict[str, str] = {}
        self.vio_message = ""
        self.states_seen: list[str] = []  # the node's states in order of appearance (a transition log)
        self.node.create_subscription(Odometry, "/vio/odometry", self._on_odometry, OUTPUT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, OUTPUT_QOS)

    def _on_odometry(self, _msg: Any) -> None:
        self.odometry_count += 1
        self.last_odometry = time.monotonic()

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith("vio_node"):
                self.vio_health = {kv.key: kv.value for kv in status.values}
                self.vio_message = status.message
                state = self.vio_health.get("state", "?")
                if state == "degraded":  # say why: after the bag's last message it is the inputs stopping
                    state = f"degraded ({status.message})"
                if not self.states_seen or self.states_seen[-1] != state:
                    self.states_seen.append(state)

    def spin_for(self, seconds: float) -> None:
        """Spin this long. Ctrl-C raises KeyboardInterrupt: rclpy's SIGINT handler may instead shut the
        context down under a spin (ExternalShutdownException, seen in CI), which means the same here."""
        from rclpy.executors import ExternalShutdownException
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self._rclpy.spin_once(self.node, timeout_sec=min(0.05, max(end - time.monotonic(), 0.0)))
            except ExternalShutdownException as exc:
                raise KeyboardInterrupt from exc

    def received_all(self, images: int, imu: int) -> bool:
        """The VIO node's diagnostics count every image and IMU message of the bag."""
        health = self.vio_health
        return int(health.get("images_received", -1)) >= images and int(health.get("imu_received", -1)) >= imu

    def graph_ready(self, image_topic: str, imu_topic: str) -> bool:
        """The VIO node subscribes to the sensors and the evaluation node to /vio/odometry."""
        return (self.node.count_subscribers(image_topic) > 0 and self.node.count_subscribers(imu_topic) > 0
                and self.node.count_subscribers("/vio/odometry") > 1)

    def close(self) -> None:
        self.node.destroy_node()
        self._rclpy.try_shutdown()


def wait_until(predicate: Any, watcher: Watcher, children: Children, *, timeout_s: float, what: str) -> None:
    """Spin until ``predicate()``; DemoError on timeout or when a child dies."""
    end = time.monotonic() + timeout_s
    while not predicate():
        children.check_alive()
        if time.monotonic() > end:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        watcher.spin_for(0.1)


# ------------------------------------------------------------------ output

def print_report(report: dict[str, Any], health: dict[str, str], *, odometry: int, out: Path, model: str,
                 states: str) -> None:
    """The evaluation report and the VIO node's counters, as a short table."""
    rows = [
        ("model", model),
        ("odometry messages", str(odometry)),
        ("matched poses", str(report.get("matched_poses"))),
        ("path length", f"{report.get('path_length_m', 0.0):.3f} m"),
        ("ATE rmse (SE3-aligned)", f"{report['ate_rmse_m'] * 100:.2f} cm"),
        ("ATE max", f"{report['ate_max_m'] * 100:.2f} cm"),
        (f"RPE rmse per {report.get('rpe_delta')} {report.get('rpe_unit')}",
         f"{report['rpe_trans_rmse_m'] * 100:.2f} cm, {report['rpe_rot_rmse_deg']:.3f} deg"),
        ("drift", f"{report['drift_m_per_100m']:.2f} m/100 m" if report.get("drift_m_per_100m") is not None
         else "n/a"),
        ("frames synced / dropped", f"{health.get('sync.frames_out', '?')} / {health.get('dropped_total', '?')}"),
        ("inference p50 / p99", f"{health.get('inference_ms_p50', '?')} / {health.get('inference_ms_p99', '?')} ms"),
        ("image -> odometry p50", f"{health.get('e2e_latency_ms_p50', '?')} ms"),
        ("node states during replay", states),
    ]
    width = max(len(name) for name, _ in rows)
    print("\narvr-vio-demo: live evaluation of /vio/odometry against the bag's ground truth")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  report: {out / 'report.json'}\n  plot:   {out / 'trajectory.png'}\n  logs:   {out}/*.log")


# -------------------------------------------------------------------- run

def run(args: argparse.Namespace) -> int:
    """Start the graph, replay, collect the report; 0 on success."""
    bag, model, params, topics = check_inputs(args)
    args.out.mkdir(parents=True, exist_ok=True)
    report_path = (args.out / "report.json").resolve()
    report_path.unlink(missing_ok=True)
    ros_environment()
    children = Children(args.out)
    watcher = Watcher()
    try:
        start_nodes(children, args, model=model, params=params, report_path=report_path)
        wait_until(lambda: watcher.graph_ready("/cam0/image_raw", "/imu0"), watcher, children,
                   timeout_s=args.startup_timeout, what="the VIO and evaluation nodes (see their logs)")
        states = replay(children, watcher, bag, topics, rate=args.rate)
        report = finish(children, watcher, report_path)
        print_report(report, watcher.vio_health, odometry=watcher.odometry_count, out=args.out, model=model,
                     states=states)
        return 0
    finally:
        children.stop_all()
        watcher.close()


def start_nodes(children: Children, args: argparse.Namespace, *, model: str, params: Path, report_path: Path) -> None:
    """The VIO node and the evaluation node, both on sim time."""
    children.start("vio_node", [
        executable("arvr-vio-node"), "--ros-args", "--params-file", str(params),
        "-p", f"vio.model_path:={model}", "-p", f"estimator.device:={args.device}",
        "-p", "vio.publish_static_tf:=true", "-p", "use_sim_time:=true"])
    children.start("eval_node", [
        executable("arvr-vio-eval-node"), "--ros-args", "-p", "use_sim_time:=true",
        "-p", "est_topic:=/vio/odometry", "-p", f"gt_topic:={args.gt_topic}",
        "-p", f"report_path:={report_path}", "-p", f"plot_path:={report_path.with_name('trajectory.png')}"])


def replay(children: Children, watcher: Watcher, bag: Path, topics: list[str], *, rate: float) -> str:
    """Play the bag (progress bar on this terminal), wait for the last odometry; the node's states meanwhile."""
    LOG.info("replaying %s (%s) at %.2gx", bag, ", ".join(topics), rate)
    # --wait-all: both nodes subscribe to these topics and are separate processes, so the player
    # waits until each topic is matched (discovery can take ~3 s here) rather than until matches settle.
    # --delay 3: the nodes' volatile readers must also have matched the player's writers, or they
    # skip what was sent before them.
    player = children.start("player", [executable("arvr-vio-play"), str(bag), "--clock", "--rate", str(rate),
                                       "--delay", "3", "--wait-all", "--wait-subscribers", "30",
                                       "--topics", *topics], log=False)
    while player.poll() is None:
        children.check_alive()
        watcher.spin_for(0.2)
    if player.returncode != 0:
        raise DemoError(f"arvr-vio-play exited with code {player.returncode}")
    states_during_replay = " -> ".join(watcher.states_seen) or "?"
    with open_bag(bag) as reader:
        counts = {topic: info.msgcount for topic, info in reader.topics.items()}
    images, imu = counts["/cam0/image_raw"], counts["/imu0"]
    quiet_s = 1.5  # then the node drains its buffer: stop once odometry has been quiet this long
    wait_until(lambda: watcher.received_all(images, imu) and time.monotonic() - watcher.last_odometry > quiet_s,
               watcher, children, timeout_s=120.0, what="the VIO node to receive and process the whole bag")
    return states_during_replay


def finish(children: Children, watcher: Watcher, report_path: Path) -> dict[str, Any]:
    """Stop the evaluation node (it writes the report on SIGINT) and read the report.

    Raises:
        DemoError: no report was written.
    """
    watcher.spin_for(1.2)  # one more diagnostics period of the VIO node
    code = children.stop("eval_node", timeout_s=60.0)
    if not report_path.is_file():
        raise DemoError(f"the evaluation node wrote no report (exit code {code}); "
                        f"see {report_path.parent / 'eval_node.log'}")
    return json.loads(report_path.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``arvr-vio-demo``; 0 on success, 2 on bad input, 1 when the graph fails."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; all processes stopped", file=sys.stderr)
        return 130
    except DemoInputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except DemoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
