"""``arvr-vio-eval-node``: score a live (or replayed) estimate against ground truth.

Parameters are the fields of ``EvalConfig`` (``config/eval.yaml``): ``est_topic``,
``gt_topic`` (message types found from the graph once a publisher appears:
Odometry, PoseStamped, PoseWithCovarianceStamped, TransformStamped), or TF ground
truth with ``gt_parent_frame``/``gt_child_frame`` on /tf + /tf_static; ``align``,
``rpe_delta``, ``rpe_unit``, ``report_path``, ``plot_path``, ``report_period_s``.
``use_sim_time`` is honoured (poses carry their header stamps in any case).

The node buffers both streams, publishes the running ATE/RPE as a
``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``, and writes the JSON
report (the CLI's keys, from the same ``core.evaluation`` code) and the plot
atomically on SIGINT/SIGTERM and on the ``~/save_report`` (std_srvs/Trigger) service.
"""
from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, PoseWithCovarianceStamped, TransformStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from arvr_hybrid_vio.core.collector import collector_paused
from arvr_hybrid_vio.core.errors import VioError
from arvr_hybrid_vio.core.evaluation import EvalConfig, EvaluationReport, evaluate, write_report_json
from arvr_hybrid_vio.core.tf_chain import TransformSamples, chain_trajectory
from arvr_hybrid_vio.core.trajectory import Trajectory, trajectory_from_samples
from arvr_hybrid_vio.io.trajectory_bags import add_tf_message, pose_from_message
from arvr_hybrid_vio.ros.params import declare_config, watch_config
from arvr_hybrid_vio.ros.qos import OUTPUT_QOS

MESSAGE_CLASSES: dict[str, Any] = {
    "nav_msgs/msg/Odometry": Odometry,
    "geometry_msgs/msg/PoseStamped": PoseStamped,
    "geometry_msgs/msg/PoseWithCovarianceStamped": PoseWithCovarianceStamped,
    "geometry_msgs/msg/TransformStamped": TransformStamped,
}
# Reliable keep-all: a replayed bag (reliable publishers) loses nothing; best effort where the publisher is.
_TF_STATIC_QOS = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
_DISCOVERY_PERIOD_S = 0.05


class PoseStream:
    """Poses of one topic, in arrival order."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.msgtype = ""
        self.stamps_ns: list[int] = []
        self.positions_xyz: list[tuple[float, float, float]] = []
        self.quats_wxyz: list[tuple[float, float, float, float]] = []

    def add(self, message: Any) -> None:
        stamp, position, quat = pose_from_message(self.msgtype, message)
        self.stamps_ns.append(stamp)
        self.positions_xyz.append(position)
        self.quats_wxyz.append(quat)

    def trajectory(self) -> Trajectory:
        return trajectory_from_samples(self.stamps_ns, self.positions_xyz, self.quats_wxyz, source=self.topic)


class EvalNode(Node):
    """Buffers estimate and ground truth, publishes running errors, saves reports."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("eval_node", **kwargs)
        self.config: EvalConfig = declare_config(self, "", EvalConfig)
        self._watcher = watch_config(self, "", EvalConfig, on_change=self._on_config)
        self.est = PoseStream(self.config.est_topic)
        self.gt = PoseStream(self.config.gt_topic)
        self.tf = TransformSamples()
        self._eval_subscriptions: list[Any] = []
        self._pending = [self.est] + ([] if self.config.uses_tf_ground_truth else [self.gt])
        if self.config.uses_tf_ground_truth:
            self._subscribe_tf()
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self.create_service(Trigger, "~/save_report", self._on_save_report)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._discovery = self.create_timer(_DISCOVERY_PERIOD_S, self._discover, clock=steady)
        self._report_timer = None
        if self.config.report_period_s > 0:
            self._report_timer = self.create_timer(self.config.report_period_s, self._publish_running, clock=steady)
        self.get_logger().info(f"waiting for {[s.topic for s in self._pending]}; report -> {self.config.report_path}")

    # ------------------------------------------------------------ inputs

    def _discover(self) -> None:
        """Subscribe to each pending topic once a publisher of a supported type appears."""
        for stream in list(self._pending):
            publishers = self.get_publishers_info_by_topic(stream.topic)
            if not publishers:
                continue
            msgtype = publishers[0].topic_type
            if msgtype not in MESSAGE_CLASSES:
                self.get_logger().error(
                    f"{stream.topic}: type {msgtype} is not supported (use {', '.join(MESSAGE_CLASSES)})")
                self._pending.remove(stream)
                continue
            stream.msgtype = msgtype
            qos = _matching_qos(publishers[0].qos_profile)
            subscription = self.create_subscription(MESSAGE_CLASSES[msgtype], stream.topic, stream.add, qos)
            self._eval_subscriptions.append(subscription)
            self._pending.remove(stream)
            self.get_logger().info(f"subscribed to {stream.topic} ({msgtype})")
        if not self._pending:
            self._discovery.cancel()

    def _subscribe_tf(self) -> None:
        tf_qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
        self._eval_subscriptions.append(self.create_subscription(
            TFMessage, "/tf", lambda m: add_tf_message(self.tf, m, static=False), tf_qos))
        self._eval_subscriptions.append(self.create_subscription(
            TFMessage, "/tf_static", lambda m: add_tf_message(self.tf, m, static=True), _TF_STATIC_QOS))

    def _on_config(self, config: EvalConfig) -> None:
        self.config = config

    # ----------------------------------------------------------- outputs

    def ground_truth(self) -> Trajectory:
        """The ground truth received so far (topic or TF chain)."""
        if self.config.uses_tf_ground_truth:
            parent, child = self.config.gt_parent_frame, self.config.gt_child_frame
            return chain_trajectory(self.tf, parent, child, source=f"/tf {parent}->{child}")
        return self.gt.trajectory()

    def evaluate_now(self) -> EvaluationReport:
        """Evaluate everything received so far.

        Raises:
            VioError: not enough (or malformed) data yet.
        """
        return evaluate(self.ground_truth(), self.est.trajectory(), self.config)

    def save_report(self) -> str:
        """Write the JSON report and the plot atomically; return a one-line summary.

        Raises:
            VioError: nothing to evaluate yet.
            OSError: the report path is not writable.
        """
        report = self.evaluate_now()
        flat = report.to_dict()
        write_report_json(flat, self.config.report_path)
        from arvr_hybrid_vio.core.plots import plot_evaluation
        plot_path = self.config.resolved_plot_path()
        plot_evaluation(report, plot_path, title=f"{self.config.est_topic} vs ground truth")
        return (f"ATE rmse {flat['ate_rmse_m']:.4f} m over {flat['matched_poses']} poses; "
                f"wrote {self.config.report_path} and {plot_path}")

    def _on_save_report(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self.save_report()
            response.success = True
        except (VioError, OSError) as exc:
            response.message = f"no report: {exc}"
            response.success = False
        self.get_logger().info(response.message)
        return response

    def _publish_running(self) -> None:
        status = DiagnosticStatus(name=f"{self.get_name()}: trajectory error", hardware_id=self.config.est_topic)
        try:
            flat = self.evaluate_now().to_dict()
            status.level = DiagnosticStatus.OK
            status.message = f"ATE rmse {flat['ate_rmse_m']:.4f} m, RPE rmse {flat['rpe_trans_rmse_m']:.4f} m"
            status.values = [KeyValue(key=key, value=_text(value)) for key, value in flat.items()]
        except VioError as exc:
            status.level = DiagnosticStatus.WARN
            status.message = f"waiting for data: {exc}"
            status.values = [KeyValue(key="est_poses", value=str(len(self.est.stamps_ns)))]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)


def _matching_qos(offered: QoSProfile) -> QoSProfile:
    """A subscription profile compatible with a publisher's: its reliability, keep all, volatile."""
    reliable = offered.reliability == ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_ALL,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def _text(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class _StopFlag:
    """Set by SIGINT/SIGTERM; the spin loop then saves the report and exits."""

    def __init__(self) -> None:
        self.signal_name = ""

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``arvr-vio-eval-node``; returns the exit code."""
    logging.basicConfig(level=logging.INFO)
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = _StopFlag()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    node = None
    try:
        with collector_paused():  # no collector pass over the start-up's objects while scoring live (41-54 ms logged)
            node = EvalNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not stop.signal_name:
            executor.spin_once(timeout_sec=0.1)
        return _final_report(node, stop.signal_name)
    except VioError as exc:
        print(f"arvr-vio-eval-node: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        return _final_report(node, "shutdown") if node is not None else 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def _final_report(node: EvalNode, reason: str) -> int:
    try:
        node.get_logger().info(f"{reason}: {node.save_report()}")
        return 0
    except (VioError, OSError) as exc:
        node.get_logger().error(f"{reason}: no report written: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
