"""``arvr-vio-node`` (``ros2 run arvr_hybrid_vio vio_node``): learned visual-inertial odometry.

A thin adapter: messages become arrays (``ros.conversions``), the ROS-free
:class:`~arvr_hybrid_vio.core.sync_buffer.SyncBuffer` pairs frames with IMU, and
:class:`~arvr_hybrid_vio.core.estimator.VioEstimator` (the same path as offline
``arvr-vio-infer``) turns them into poses.

Threads: one executor thread (``vio.executor``: rclpy's EventsExecutor where it exists, else its
SingleThreadedExecutor) runs the subscription callbacks, which convert and
push into the buffer and then run the estimator on whatever became ready (frames first,
then IMU-rate propagation), so inference never competes with another Python thread for
the GIL. With ``vio.inference_thread`` a worker thread runs the estimator instead. The
diagnostics timer and the ``~/reset`` service run on the same executor. Every message that
is not used is counted. Why not rclpy's MultiThreadedExecutor: see :func:`make_executor`.

Topics: subscribes ``vio.image_topic`` (Image; with ``vio.image_transport: compressed``, CompressedImage on
``vio.image_topic``/compressed), ``vio.imu_topic`` (Imu; its gyro alone, joined with the accelerometer of
``vio.accel_topic`` when that is set), optional ``vio.camera_info_topic``; publishes ``/vio/odometry`` and
``/vio/odometry_imu_rate``
(nav_msgs/Odometry, ``odom`` -> ``base_link``), ``/vio/path``, ``/tf``, ``/tf_static``,
``/diagnostics``. Service ``~/reset`` (std_srvs/Trigger).
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu
from std_srvs.srv import Trigger

from arvr_hybrid_vio.core.collector import collector_paused
from arvr_hybrid_vio.core.errors import ConfigError, SensorDataError, VioError
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.imu_join import ImuJoiner
from arvr_hybrid_vio.core.model.camera_input import CameraModel
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer, SyncConfig
from arvr_hybrid_vio.core.types import SyncedFrame
from arvr_hybrid_vio.nodes.vio_health import (
    HealthReport, LatencyStats, NodeCounters, RateMeter, dropped_total, format_values, node_state)
from arvr_hybrid_vio.nodes.vio_node_config import EXECUTORS, CameraInfoValues, VioNodeConfig, resolve_model_path
from arvr_hybrid_vio.nodes.vio_outputs import VioOutputs
from arvr_hybrid_vio.io.image_messages import grey_image
from arvr_hybrid_vio.ros.conversions import ImuSample, imu_to_arrays, time_to_ns
from arvr_hybrid_vio.ros.params import declare_config, watch_config
from arvr_hybrid_vio.ros.qos import IMU_QUEUE_DEPTH, OUTPUT_QOS, sensor_subscription

LOGGER = logging.getLogger(__name__)
NODE_NAME = "vio_node"
_MIN_IMAGE_SIDE = 16


class VioNode(Node):
    """Synchronises camera and IMU, runs the estimator, publishes odometry, TF, path and health."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.config: VioNodeConfig = declare_config(self, "vio", VioNodeConfig)
        self.executor_kind = executor_kind(self.config.executor)  # what main spins it with (auto resolved)
        sync_config = declare_config(self, "sync", SyncConfig)
        estimator_config = declare_config(self, "estimator", EstimatorConfig)
        self.model_path = resolve_model_path(self.config.model_path)
        self.estimator = VioEstimator.from_file(self.model_path, estimator_config)
        self.estimator.set_camera(self.config.rig_camera())
        if (warning := self.config.unused_extrinsics_warning()) is not None:
            self.get_logger().warning(warning)
        self._camera_info: CameraInfoValues | None = None  # the last calibration seen on CameraInfo
        self._pending_camera: list[CameraModel | None] = []  # handed from the executor to the worker
        self.buffer = SyncBuffer(sync_config)
        self._buffer_lock = threading.Lock()
        self.counters = NodeCounters()
        self._init_health()
        self.outputs = VioOutputs(self, self.config, self.counters)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self._init_inputs()
        self._init_watchers()
        self._worker: threading.Thread | None = None
        if self.config.inference_thread:
            self._worker = threading.Thread(target=self._run_worker, name="vio_worker", daemon=True)
            self._worker.start()
        network = getattr(self.estimator.source, "network_path", "imu-only")
        self.get_logger().info(f"model {self.model_path} on {estimator_config.device} (network: {network}); "
                               f"image {self.config.subscribed_image_topic} ({self.config.image_transport}), "
                               f"IMU {self.config.imu_topic}{self._accel_note()}; "
                               f"executor {self.executor_kind} (vio.executor {self.config.executor})")

    def _accel_note(self) -> str:
        """For the start-up line: where the accelerometer comes from when apart from the gyro."""
        return f" (gyro), accelerometer {self.config.accel_topic}" if self.config.accel_topic else ""

    # ------------------------------------------------------------------ setup
    def _init_health(self) -> None:
        self._image_rate, self._imu_rate = RateMeter(), RateMeter()
        self._inference_ms, self._e2e_ms = LatencyStats(), LatencyStats()
        self._received_at: dict[int, float] = {}  # corrected frame stamp -> monotonic receive time
        self._imu_queue: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
        self._imu_joiner = ImuJoiner(jump_back_ns=self.buffer.config.jump_back_ns)  # used with vio.accel_topic
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reset_request: threading.Event | None = None
        self._reset_reported = False
        self._seen_frames = False
        self._last_frame_ns: int | None = None
        self._last_imu_rate_ns: int | None = None  # stamp of the last IMU-rate pose published (vio.imu_rate_max_hz)
        self._image_size: tuple[int, int] | None = None  # (height, width) expected
        self._last_health_message = ""

    def _init_inputs(self) -> None:
        cfg = self.config
        self._subscriptions_ = [
            sensor_subscription(self, Image if cfg.image_transport == "raw" else CompressedImage,
                                cfg.subscribed_image_topic, self._on_image),
            sensor_subscription(self, Imu, cfg.imu_topic, self._on_imu if not cfg.accel_topic else self._on_gyro,
                                depth=IMU_QUEUE_DEPTH)]
        if cfg.accel_topic:
            self._subscriptions_.append(sensor_subscription(self, Imu, cfg.accel_topic, self._on_accel,
                                                            depth=IMU_QUEUE_DEPTH))
        if cfg.camera_info_topic:
            self._subscriptions_.append(sensor_subscription(
                self, CameraInfo, cfg.camera_info_topic, self._on_camera_info))
        self.create_service(Trigger, "~/reset", self._on_reset)
        steady = Clock(clock_type=ClockType.STEADY_TIME)  # health keeps reporting when /clock stops
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics,
                          clock=steady)

    def _init_watchers(self) -> None:
        self._vio_watcher = watch_config(self, "vio", VioNodeConfig, on_change=self._on_vio_change)
        self._sync_watcher = watch_config(self, "sync", SyncConfig, on_change=self._on_sync_change)
        self.add_on_set_parameters_callback(_refuse_estimator_changes)

    def _on_vio_change(self, config: VioNodeConfig) -> None:
        self.config = config
        self.outputs.config = config

    def _on_sync_change(self, config: SyncConfig) -> None:
        with self._buffer_lock:
            self.buffer.update_config(config)

    # ------------------------------------------------------------- callbacks
    def _on_image(self, msg: Image | CompressedImage) -> None:
        self.counters.add("images_received")
        self._image_rate.tick()
        image = self._convert_image(msg)
        if image is None:
            return
        stamp_ns = time_to_ns(msg.header.stamp)
        with self._buffer_lock:
            accepted = self.buffer.push_image(stamp_ns, image)
            frame_stamp_ns = self.buffer.queued_stamp_ns  # as the synced frame will carry it
            if accepted:
                if len(self._received_at) > 4 * self.buffer.config.capacity:  # frames dropped unprocessed
                    self._received_at.clear()
                self._received_at[frame_stamp_ns] = time.monotonic()
        if accepted and self._worker is None and self.config.track_on_arrival:
            self._prepare_image(frame_stamp_ns, image)
        self._work_available()

    def _prepare_image(self, frame_stamp_ns: int, image: np.ndarray) -> None:
        """The estimator's visual work for this image now, while its frame waits for the IMU."""
        try:
            self.estimator.prepare_image(frame_stamp_ns, image)
        except Exception as exc:  # the frame's step does the work again (and reports a real failure)
            self.counters.add("prepare_image_errors")
            self.get_logger().warning(f"tracking at image arrival failed: {exc!r}", throttle_duration_sec=2.0)

    def _convert_image(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """Grey (H, W) uint8 pixels, or None with the reason counted and logged (throttled)."""
        try:
            image = grey_image(msg)  # the same decoding as arvr-vio-infer
        except SensorDataError as exc:
            reason = "images_rejected_encoding" if "encoding" in str(exc) else "images_rejected_data"
            return self._reject_image(reason, str(exc))
        expected = self._image_size or (image.shape if min(image.shape) >= _MIN_IMAGE_SIDE else None)
        if expected is None or image.shape != expected:
            return self._reject_image("images_rejected_size", f"image {image.shape[1]}x{image.shape[0]} "
                                      f"does not match the stream's {self._describe_size()}")
        self._image_size = expected
        return image

    def _describe_size(self) -> str:
        if self._image_size is None:
            return f"minimum {_MIN_IMAGE_SIDE}x{_MIN_IMAGE_SIDE}"
        return f"{self._image_size[1]}x{self._image_size[0]}"

    def _reject_image(self, counter: str, reason: str) -> None:
        self.counters.add(counter)
        self.get_logger().warning(f"{self.config.subscribed_image_topic}: image rejected: {reason}",
                                  throttle_duration_sec=2.0)
        return None

    def _on_imu(self, msg: Imu) -> None:
        self.counters.add("imu_received")
        self._imu_rate.tick()
        sample = self._imu_sample(msg, self.config.imu_topic)
        if sample is not None:
            self._take_imu([(sample.stamp_ns, sample.gyro_rad_s, sample.accel_m_s2)])

    def _on_gyro(self, msg: Imu) -> None:
        """``vio.imu_topic`` when the accelerometer comes apart (``vio.accel_topic``): its angular_velocity."""
        self.counters.add("imu_received")
        self._imu_rate.tick()
        sample = self._imu_sample(msg, self.config.imu_topic, part="gyro")
        if sample is not None:
            with self._buffer_lock:
                joined = self._imu_joiner.add_gyro(sample.stamp_ns, sample.gyro_rad_s)
            self._take_imu(joined)

    def _on_accel(self, msg: Imu) -> None:
        """``vio.accel_topic``: its linear_acceleration completes the gyro samples waiting for it."""
        self.counters.add("accel_received")
        sample = self._imu_sample(msg, self.config.accel_topic, part="accel")
        if sample is not None:
            with self._buffer_lock:
                joined = self._imu_joiner.add_accel(sample.stamp_ns, sample.accel_m_s2)
            self._take_imu(joined)

    def _imu_sample(self, msg: Imu, topic: str, *, part: str = "both") -> ImuSample | None:
        """The message's sample, or None (counted, logged) when the values used are not finite."""
        try:
            return imu_to_arrays(msg, part=part)
        except SensorDataError as exc:
            self.counters.add("imu_rejected_nonfinite")
            self.get_logger().warning(f"{topic}: {exc}", throttle_duration_sec=2.0)
            return None

    def _take_imu(self, samples: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Combined IMU samples (stamp, gyro, accel) into the sync buffer and the IMU-rate queue."""
        if not samples:
            return
        with self._buffer_lock:
            for stamp_ns, gyro, accel in samples:
                self.buffer.push_imu(stamp_ns, gyro, accel)
        if self.config.publish_imu_rate:
            for sample in samples:
                if len(self._imu_queue) >= self.config.imu_rate_queue:
                    self.counters.add("imu_rate_queue_overflow")
                else:
                    self._imu_queue.append(sample)
        self._work_available()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.counters.add("camera_info_received")
        if msg.width and msg.height:
            self._image_size = (int(msg.height), int(msg.width))
        values = CameraInfoValues.from_message(msg)
        if values == self._camera_info:
            return
        self._camera_info = values
        try:
            camera = self.config.rig_camera(values)
        except VioError as exc:
            self.counters.add("camera_info_rejected")
            self.get_logger().warning(f"{self.config.camera_info_topic}: calibration not usable: {exc}",
                                      throttle_duration_sec=5.0)
            return
        if camera is not None:
            self.get_logger().info(f"camera from {self.config.camera_info_topic}: {camera.width}x{camera.height}, "
                                   f"fx {camera.fx:.1f}, fy {camera.fy:.1f}, {msg.distortion_model or 'no'} distortion")
            self._pending_camera.append(camera)
            self._work_available()

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        done = threading.Event()
        self._reset_request = done
        self._work_available()
        response.success = done.wait(timeout=5.0)
        response.message = "reset: initialising from the next frames" if response.success else \
            "reset requested but the worker did not confirm within 5 s"
        return response

    # ------------------------------------------------------------- estimator
    def _work_available(self) -> None:
        """New input: wake the worker thread, or (``vio.inference_thread`` false) do the work now."""
        if self._worker is not None:
            self._wake.set()
        else:
            self._work_guarded()

    def _run_worker(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            self._work_guarded()

    def _work_guarded(self) -> None:
        try:
            self._work_until_idle()
        except Exception as exc:  # keep the node alive on an unexpected estimator failure
            self.counters.add("estimator_errors")
            self.get_logger().error(f"estimator step failed: {exc!r}", throttle_duration_sec=2.0)

    def _work_until_idle(self) -> None:
        while not self._stopping.is_set():
            if self._reset_request is not None:
                self._do_reset()
            frame = self._pop_frame()
            if frame is not None:
                self._process_frame(frame)
                continue
            if not self._propagate_one():
                self.estimator.finish_frame()  # idle: the next frame's deferred work (visual_velocity.defer_solve)
                return

    def _pop_frame(self) -> SyncedFrame | None:
        with self._buffer_lock:
            return self.buffer.pop_synced()

    def _process_frame(self, frame: SyncedFrame) -> None:
        while self._pending_camera:  # a new calibration arrived on CameraInfo
            self.estimator.set_camera(self._pending_camera.pop(0))
        if frame.frame_index == 0 and self._seen_frames:  # the buffer saw time jump back
            self.counters.add("resets_jump_back")
            self._reset_estimator()
        self._seen_frames = True
        started = time.perf_counter()
        estimate = self.estimator.step(frame)
        self._inference_ms.add((time.perf_counter() - started) * 1e3)
        self._last_frame_ns = int(frame.stamp_ns)
        received = self._forget_receive_times(int(frame.stamp_ns))
        if estimate is not None and self.outputs.publish_frame(estimate) and received is not None:
            self._e2e_ms.add((time.monotonic() - received) * 1e3)

    def _forget_receive_times(self, stamp_ns: int) -> float | None:
        """The receive time of the frame at ``stamp_ns``; older entries are forgotten."""
        with self._buffer_lock:
            received = self._received_at.pop(stamp_ns, None)
            for stale in [s for s in self._received_at if s < stamp_ns]:
                del self._received_at[stale]
        return received

    def _propagate_one(self) -> bool:
        """Propagate the oldest queued IMU sample; False if none is queued.

        One at a time, so that a frame made ready by a sample is stepped before the
        sample is propagated: IMU-rate poses always start from the newest frame pose.
        """
        if not self._imu_queue:
            return False
        stamp_ns, gyro, accel = self._imu_queue.popleft()
        if self._last_frame_ns is not None and stamp_ns <= self._last_frame_ns:
            self.counters.add("imu_rate_superseded")  # a frame estimate at or after it is out
            return True
        estimate = self.estimator.propagate_imu(stamp_ns, gyro, accel)
        if estimate is not None:
            if self._imu_rate_due(stamp_ns):
                self.outputs.publish_imu_rate(estimate)
                self._last_imu_rate_ns = stamp_ns
            else:
                self.counters.add("imu_rate_capped")
        return True

    def _imu_rate_due(self, stamp_ns: int) -> bool:
        """Whether an IMU-rate pose at ``stamp_ns`` may be published under ``vio.imu_rate_max_hz``."""
        max_hz, last_ns = self.config.imu_rate_max_hz, self._last_imu_rate_ns
        # 1 % short of the period allowed for stamp jitter: at 1 kHz and 250 Hz every 4th sample goes out
        return max_hz <= 0.0 or last_ns is None or stamp_ns < last_ns or stamp_ns - last_ns >= 0.99e9 / max_hz

    def _do_reset(self) -> None:
        request, self._reset_request = self._reset_request, None
        with self._buffer_lock:
            self.buffer.reset()
            self._imu_joiner.reset()
        self._imu_queue.clear()
        self._seen_frames = False
        self._reset_estimator()
        self.counters.add("resets_requested")
        request.set()

    def _reset_estimator(self) -> None:
        self.estimator.reset()
        self._last_frame_ns = None
        self.outputs.reset_path()
        self._reset_reported = True

    # -------------------------------------------------------------- health
    def health(self) -> HealthReport:
        """The current state, level and key values (what /diagnostics publishes)."""
        now = time.monotonic()
        level, state, message = node_state(
            self.estimator.state, reset_pending=self._reset_reported,
            image_silent_s=self._image_rate.silent_for_s(now), imu_silent_s=self._imu_rate.silent_for_s(now),
            timeout_s=self.config.input_timeout_s)
        with self._buffer_lock:
            buffer_counters = self.buffer.counters()
            pending = (self.buffer.pending_frames, self.buffer.pending_imu)
            joined = dataclasses.asdict(self._imu_joiner.counters) | {"gyro_waiting": self._imu_joiner.waiting}
            join_dropped = self._imu_joiner.counters.dropped
        values: dict[str, object] = {"state": state, "estimator_state": self.estimator.state,
                                     "model": self.model_path, "executor": self.executor_kind,
                                     "image_rate_hz": self._image_rate.rate_hz(now),
                                     "imu_rate_hz": self._imu_rate.rate_hz(now),
                                     "odometry_rate_hz": self.outputs.odometry_rate.rate_hz(now),
                                     "pending_frames": pending[0], "pending_imu": pending[1]}
        values.update({f"inference_ms_{k}": v for k, v in self._inference_ms.summary().items()})
        values.update({f"e2e_latency_ms_{k}": v for k, v in self._e2e_ms.summary().items()})
        values.update(self.counters.snapshot())
        values.update({f"sync.{k}": v for k, v in buffer_counters.items()})
        if self.config.accel_topic:  # gyro and accelerometer joined (core.imu_join)
            values.update({f"imu_join.{k}": v for k, v in joined.items()})
        values.update({f"estimator.{k}": v for k, v in self.estimator.counters.items()})
        values.update({f"source.{k}": v for k, v in self.estimator.source.counters.items()})
        if (network_path := getattr(self.estimator.source, "network_path", None)) is not None:
            values["network_path"] = network_path  # cpu | cuda eager | cuda graph (estimator.cuda_graph)
        if self.estimator.visual_velocity is not None:  # window-velocity tracks done at arrival / in the step
            tracker = self.estimator.visual_velocity.tracker
            values.update({"visual.tracks_prepared_used": tracker.offered_used,
                           "visual.tracks_computed": tracker.computed})
        values["dropped_total"] = dropped_total(buffer_counters, self.counters.snapshot(), join_dropped)
        return HealthReport(level=level, state=state, message=message, values=format_values(values))

    def dropped_total(self) -> int:
        """Every input message that did not reach the estimator, and every one known missing."""
        with self._buffer_lock:
            buffer_counters = self.buffer.counters()
            join_dropped = self._imu_joiner.counters.dropped
        return dropped_total(buffer_counters, self.counters.snapshot(), join_dropped)

    def _publish_diagnostics(self) -> None:
        report = self.health()
        if report.message != self._last_health_message:  # state changes go to the log too
            if report.level:  # rclpy wants one severity per call site
                self.get_logger().warning(f"state: {report.message}")
            else:
                self.get_logger().info(f"state: {report.message}")
            self._last_health_message = report.message
        if report.state == "reset":
            self._reset_reported = False  # reported once; the estimator state follows
        status = DiagnosticStatus(level=bytes([report.level]), name=f"{self.get_name()}: vio",
                                  message=report.message, hardware_id=self.config.imu_topic,
                                  values=[KeyValue(key=k, value=v) for k, v in report.values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def stop(self) -> None:
        """Stop the worker thread, if any (before destroy_node)."""
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=5.0)


def _refuse_estimator_changes(parameters: list[Parameter]) -> SetParametersResult:
    """The estimator (model, device) is built once: changing it needs a restart."""
    changed = [p.name for p in parameters if p.name.startswith("estimator.")]
    if changed:
        return SetParametersResult(successful=False, reason=f"{changed} cannot change while the node runs; "
                                   "restart the node with the new value")
    return SetParametersResult(successful=True)


def executor_kind(kind: str = "auto") -> str:
    """The executor ``vio.executor`` names: ``auto`` is ``events`` where this rclpy has the EventsExecutor
    (ROS 2 Kilted and later), else ``single_threaded``; the other kinds are themselves. The node resolves
    it as its parameters load, so a kind this ROS 2 lacks fails before the model is loaded.

    Raises:
        ConfigError: an unknown ``kind``, or ``events`` where this rclpy has no EventsExecutor.
    """
    if kind not in EXECUTORS:
        raise ConfigError(f"vio.executor must be one of {', '.join(EXECUTORS)}; got {kind!r}")
    if kind == "single_threaded":
        return kind
    if _events_executor() is not None:
        return "events"
    if kind == "auto":
        return "single_threaded"
    raise ConfigError("vio.executor 'events' needs rclpy.experimental.EventsExecutor (ROS 2 Kilted or later), "
                      "which this rclpy lacks; use 'auto' or 'single_threaded'")


def _events_executor() -> Callable[..., Executor] | None:
    """rclpy's ``experimental.EventsExecutor``, or None where this rclpy has none (Jazzy and older)."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return None
    return EventsExecutor


def make_executor(context: Context | None = None, kind: str = "auto") -> Executor:
    """The executor that spins the VIO node (``main`` and the tests use this one): ``kind`` is
    ``vio.executor`` (see :func:`executor_kind`).

    ``events``: rclpy's ``experimental.EventsExecutor`` (ROS 2 Kilted and later), whose event queue
    and dispatch are C++, so each message costs less Python. Measured with the node over DDS on the
    2-core Intel Xeon (README, "The node's executor"): about a quarter less CPU in a lap with a 1 kHz
    IMU, keeping up where the SingleThreadedExecutor fell behind, at the same 200 Hz latency. It is
    what ``auto`` (the default) picks where it exists. Spin it with :func:`spin` (its blocking
    ``spin()`` runs no timer here).

    ``single_threaded``: rclpy's ``SingleThreadedExecutor`` (every ROS 2). Measured: replaying the 8 s
    demo bag (241 images, 1601 IMU samples) on 2 cores, rclpy's ``MultiThreadedExecutor(num_threads=2)``
    delivered 174 of 241 images and 49 of 241 camera infos (the rest overflowed the readers' keep-last
    queues), with image -> odometry p99 of 6.1 s: its Python-level wait loop competes with the inference
    worker for the GIL. ``SingleThreadedExecutor`` delivered every message, p99 30 ms. The estimator runs
    in the executor's thread (or in a worker, ``vio.inference_thread``), so nothing needs a second
    executor thread.

    Raises:
        ConfigError: as :func:`executor_kind`.
    """
    if executor_kind(kind) == "single_threaded":
        return SingleThreadedExecutor(context=context)
    return _events_executor()(context=context)


def spin(executor: Executor, context: Context | None = None, *, until: threading.Event | None = None) -> None:
    """Spin until the context shuts down (Ctrl-C, SIGTERM, ``rclpy.shutdown``) or ``until`` is set:
    ``spin()`` for the SingleThreadedExecutor; ``spin_once`` in a loop for the EventsExecutor, whose
    blocking ``spin()`` never ran a timer and ignored SIGTERM in our checks (docs/performance_history.md),
    and for either when ``until`` is given (a caller that spins it in a thread of its own)."""
    if isinstance(executor, SingleThreadedExecutor) and until is None:
        executor.spin()
        return
    while rclpy.ok(context=context) and not (until is not None and until.is_set()):
        executor.spin_once(timeout_sec=0.1)


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; 2 on a configuration or model error."""
    rclpy.init(args=argv if argv is not None else sys.argv)
    node: VioNode | None = None
    try:
        with collector_paused():  # torch, the model and rclpy live to the end: never walked by the collector
            node = VioNode()
        executor = make_executor(kind=node.executor_kind)
        executor.add_node(node)
        spin(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except VioError as exc:  # a bad parameter or model file: one line, exit code 2
        print(f"arvr-vio-node: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
