"""Configuration of the VIO node and the ROS-free helpers it needs (no rclpy here).

The node reads three parameter sections from one ROS parameter YAML: ``vio``
(:class:`VioNodeConfig`: topics, frames, outputs), ``sync``
(:class:`~arvr_hybrid_vio.core.sync_buffer.SyncConfig`) and ``estimator``
(:class:`~arvr_hybrid_vio.core.estimator.EstimatorConfig`). Offline tools load the
same sections with :func:`load_node_configs`.

Extrinsics are 4x4 row-major matrices (16 numbers) as EuRoC's ``T_BS`` writes
them: ``T_base_imu`` maps IMU coordinates into ``base_link``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from arvr_hybrid_vio.core.config_io import load_section
from arvr_hybrid_vio.core.errors import ConfigError, ModelFileError
from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig
from arvr_hybrid_vio.core.geometry import hat, matrix_to_quat_wxyz, quat_wxyz_to_matrix
from arvr_hybrid_vio.core.sync_buffer import SyncConfig
from arvr_hybrid_vio.core.types import PoseEstimate
from arvr_hybrid_vio.io.image_messages import compressed_topic

if TYPE_CHECKING:
    from arvr_hybrid_vio.core.model.camera_input import CameraModel

LOGGER = logging.getLogger(__name__)
PACKAGE = "arvr_hybrid_vio"
DEFAULT_MODEL_NAME = "hybrid.safetensors"
IDENTITY_4X4 = tuple(float(v) for v in np.eye(4).reshape(16))


IMAGE_TRANSPORTS = ("raw", "compressed")  # vio.image_transport, image_transport's names
EXECUTORS = ("auto", "single_threaded", "events")  # vio.executor: what make_executor (nodes.vio_node) builds


def _restart(description: str) -> dict[str, object]:
    return {"description": description, "needs_restart": True}


@dataclass(frozen=True)
class VioNodeConfig:
    """Topics, frames and outputs of the VIO node (ROS parameter section ``vio``)."""

    # Camera topic (sensor_msgs/Image; mono8, mono16, rgb8, bgr8, rgba8, bgra8, bayer_{rggb,bggr,gbrg,grbg}8, yuv422,
    # yuv422_yuy2 accepted).
    image_topic: str = field(default="/cam0/image_raw", metadata=_restart("camera topic (sensor_msgs/Image)"))
    # How the camera arrives, as image_transport names it: "raw" (sensor_msgs/Image on image_topic) or
    # "compressed" (sensor_msgs/CompressedImage, JPEG or PNG, on image_topic + "/compressed").
    image_transport: str = field(default="raw", metadata=_restart(
        "raw (sensor_msgs/Image on image_topic) or compressed (CompressedImage on image_topic/compressed)"))
    # Optional sensor_msgs/CameraInfo topic ("" = none): images of another size are rejected.
    camera_info_topic: str = field(default="", metadata=_restart("optional CameraInfo topic, '' for none"))
    # IMU topic (sensor_msgs/Imu).
    imu_topic: str = field(default="/imu0", metadata=_restart("IMU topic (sensor_msgs/Imu)"))
    # Accelerometer topic (sensor_msgs/Imu, its linear_acceleration) for an IMU that publishes it apart from the
    # gyro, e.g. a RealSense at unite_imu_method none; imu_topic then carries the gyro (angular_velocity), and
    # each gyro sample gets the accelerometer interpolated at its stamp (core.imu_join). "": imu_topic has both.
    accel_topic: str = field(default="", metadata=_restart(
        "accelerometer topic when apart from the gyro (imu_topic then gives the gyro); '' = imu_topic has both"))
    # Model file, "imu-only" for the strapdown baseline, "" for the installed models/hybrid.safetensors.
    model_path: str = field(default="", metadata=_restart("model file, 'imu-only', or '' for the installed hybrid"))
    # REP-105 odometry frame.
    odom_frame: str = field(default="odom", metadata=_restart("odometry frame (REP-105)"))
    # REP-105 body frame; the odometry's child frame.
    base_frame: str = field(default="base_link", metadata=_restart("body frame, child of odom"))
    # Frame of the IMU (static transform from base_frame).
    imu_frame: str = field(default="imu", metadata=_restart("IMU frame"))
    # Frame of the camera (static transform from base_frame).
    camera_frame: str = field(default="camera", metadata=_restart("camera frame"))
    # T_base_imu, 4x4 row-major: maps IMU coordinates into base_frame.
    T_base_imu: tuple[float, ...] = field(default=IDENTITY_4X4, metadata=_restart("T_base_imu, 16 numbers, row-major"))
    # T_base_camera, 4x4 row-major: maps camera coordinates into base_frame.
    T_base_camera: tuple[float, ...] = field(default=IDENTITY_4X4, metadata=_restart(
        "T_base_camera, 16 numbers, row-major"))
    # The camera's pinhole intrinsics fx, fy, cx, cy (px) at camera_resolution; [] = from CameraInfo
    # when camera_info_topic is set, else the model's training camera (same field of view) is assumed.
    camera_intrinsics: tuple[float, ...] = field(default=(), metadata=_restart(
        "fx, fy, cx, cy in px ([] = CameraInfo or the model's training camera)"))
    # Image width, height the intrinsics are for (images of another size are scaled to it).
    camera_resolution: tuple[int, ...] = field(default=(), metadata=_restart("width, height of the intrinsics, px"))
    # Distortion coefficients of camera_distortion_model; [] = none.
    camera_distortion: tuple[float, ...] = field(default=(), metadata=_restart("distortion coefficients, [] = none"))
    # plumb_bob (radtan k1 k2 p1 p2 [k3]) or equidistant (fisheye k1..k4).
    camera_distortion_model: str = field(default="plumb_bob", metadata=_restart("plumb_bob or equidistant"))
    # Broadcast odom -> base_frame on /tf.
    publish_tf: bool = field(default=True, metadata={"description": "broadcast odom -> base_frame on /tf"})
    # Broadcast base_frame -> imu_frame / camera_frame on /tf_static.
    publish_static_tf: bool = field(default=True, metadata=_restart("broadcast the sensor frames on /tf_static"))
    # Publish IMU-rate predictions on /vio/odometry_imu_rate.
    publish_imu_rate: bool = field(default=True, metadata={"description": "publish /vio/odometry_imu_rate"})
    # Cap on /vio/odometry_imu_rate in sensor time, Hz (0: a pose for every IMU sample). Every sample is still
    # propagated; only the publishing, the dearer half of the per-sample work, is thinned (README, "IMU-rate cap").
    imu_rate_max_hz: float = field(default=0.0, metadata={
        "description": "at most this many /vio/odometry_imu_rate poses per second of sensor time (0: every IMU sample)"})
    # Poses kept in /vio/path (oldest dropped beyond). Publishing costs ~3 us per pose here
    # (rclpy message conversion), on the inference thread: 3000 poses ~ 9 ms per publication.
    path_max_poses: int = field(default=3000, metadata={"description": "poses kept in /vio/path"})
    # Sensor time between poses added to /vio/path, s (0: every frame). 0.1 s and 3000 poses = 5 min.
    path_pose_spacing_s: float = field(default=0.1, metadata={"description": "time between /vio/path poses, s"})
    # Sensor-time period of /vio/path publications, s (0: every frame).
    path_period_s: float = field(default=0.5, metadata={"description": "period of /vio/path publications, s"})
    # Period of /diagnostics, s (wall clock).
    diagnostics_period_s: float = field(default=1.0, metadata=_restart("period of /diagnostics, s"))
    # An input silent this long (wall clock) makes the state "degraded", s.
    input_timeout_s: float = field(default=1.0, metadata={"description": "input silence before 'degraded', s"})
    # Where the estimator runs. False: in the executor thread, right after the callback that
    # completed a frame (one Python thread, so inference never waits for the GIL; incoming
    # messages wait in the DDS queues meanwhile). True: in a worker thread of its own.
    inference_thread: bool = field(default=False, metadata=_restart(
        "run the estimator in a worker thread instead of the executor thread"))
    # Track an image's features as soon as it arrives, while its frame waits for the IMU sample that
    # completes it, so the step after that sample is shorter (inference in the executor thread only).
    track_on_arrival: bool = field(default=True, metadata={
        "description": "track image features at arrival, before the frame's IMU is complete"})
    # IMU samples queued for IMU-rate propagation while inference runs (overflow is counted).
    imu_rate_queue: int = field(default=2000, metadata=_restart("IMU samples queued for IMU-rate output"))
    # The rclpy executor that spins the node: "events" (rclpy.experimental.EventsExecutor, ROS 2 Kilted and
    # later: its queue and dispatch are C++, about a quarter less CPU per IMU sample, so the node keeps up
    # with a 1 kHz IMU on 2 cores), "single_threaded" (rclpy's SingleThreadedExecutor, every ROS 2), or
    # "auto": events where this rclpy has it, else single_threaded (README, "The node's executor").
    executor: str = field(default="auto", metadata=_restart(
        "rclpy executor: auto (events where rclpy has it, else single_threaded), events (EventsExecutor, "
        "Kilted+) or single_threaded"))

    def __post_init__(self) -> None:
        for name in ("T_base_imu", "T_base_camera"):
            transform_from_row_major(getattr(self, name), name=f"vio.{name}")
        if self.camera_intrinsics and (len(self.camera_intrinsics) != 4 or len(self.camera_resolution) != 2):
            raise ConfigError("vio.camera_intrinsics needs 4 values (fx, fy, cx, cy) and vio.camera_resolution "
                              f"2 (width, height); got {list(self.camera_intrinsics)} and "
                              f"{list(self.camera_resolution)}")
        if self.camera_intrinsics:
            self.rig_camera()  # validates the values
        if not self.imu_rate_max_hz >= 0.0:
            raise ConfigError(f"vio.imu_rate_max_hz must be >= 0 (0: every IMU sample); got {self.imu_rate_max_hz}")
        if self.image_transport not in IMAGE_TRANSPORTS:
            raise ConfigError(f"vio.image_transport must be one of {', '.join(IMAGE_TRANSPORTS)}; "
                              f"got {self.image_transport!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"vio.executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        if self.path_max_poses < 1 or self.imu_rate_queue < 1:
            raise ConfigError("vio.path_max_poses and vio.imu_rate_queue must be >= 1")
        if self.diagnostics_period_s <= 0 or self.input_timeout_s <= 0 or self.path_period_s < 0 \
                or self.path_pose_spacing_s < 0:
            raise ConfigError("vio.diagnostics_period_s and vio.input_timeout_s must be > 0, "
                              "path_period_s and path_pose_spacing_s >= 0")

    @property
    def subscribed_image_topic(self) -> str:
        """The topic the camera is read from: ``image_topic``, with ``/compressed`` for that transport."""
        return self.image_topic if self.image_transport == "raw" else compressed_topic(self.image_topic)

    def camera_rotation_imu(self) -> tuple[float, ...]:
        """R_imu_camera (row-major) from the two extrinsics."""
        T_base_imu = transform_from_row_major(self.T_base_imu, name="vio.T_base_imu")
        T_base_camera = transform_from_row_major(self.T_base_camera, name="vio.T_base_camera")
        return tuple(float(v) for v in (T_base_imu[:3, :3].T @ T_base_camera[:3, :3]).reshape(9))

    def camera_translation_imu(self) -> tuple[float, ...]:
        """t_imu_camera: the camera centre in IMU axes, m, from the two extrinsics."""
        T_base_imu = transform_from_row_major(self.T_base_imu, name="vio.T_base_imu")
        T_base_camera = transform_from_row_major(self.T_base_camera, name="vio.T_base_camera")
        return tuple(float(v) for v in T_base_imu[:3, :3].T @ (T_base_camera[:3, 3] - T_base_imu[:3, 3]))

    def unused_extrinsics_warning(self) -> str | None:
        """A message when the extrinsics place the camera (``T_base_camera`` relative to ``T_base_imu``)
        but no calibration will be used with them: without ``camera_intrinsics`` and without a
        CameraInfo topic the estimator assumes the model's training camera, its mount included."""
        from arvr_hybrid_vio.core.model.camera_input import trained_camera
        from arvr_hybrid_vio.core.model.model_config import ModelConfig
        if self.camera_intrinsics or self.camera_info_topic:
            return None
        rotation, translation = self.camera_rotation_imu(), self.camera_translation_imu()
        training = trained_camera(ModelConfig())
        for assumed_rotation, assumed_translation in ((np.eye(3).reshape(9), (0.0, 0.0, 0.0)),
                                                      (training.R_imu_camera, training.t_imu_camera)):
            if np.allclose(rotation, assumed_rotation, atol=1e-6) and np.allclose(translation, assumed_translation,
                                                                                atol=1e-4):
                return None  # not set (camera at the IMU, the default), or the training mount itself
        return ("vio.T_base_camera places the camera relative to the IMU, but neither vio.camera_intrinsics nor "
                "vio.camera_info_topic is set: the model's training camera, its mount and lever arm included, "
                "is assumed instead; set the intrinsics (or a CameraInfo topic) for the mount to be used")

    def rig_camera(self, camera_info: CameraInfoValues | None = None) -> CameraModel | None:
        """The rig camera for the estimator: CameraInfo's calibration when given (and not all
        zero), else the ``camera_*`` parameters, else None (the model's training camera).

        Raises:
            ConfigError: the calibration is not a usable pinhole (e.g. fx <= 0).
        """
        from arvr_hybrid_vio.core.model.camera_input import CameraModel
        if camera_info is not None and camera_info.k[0] > 0 and camera_info.width > 0:
            k = camera_info.k
            model = camera_info.distortion_model or "plumb_bob"
            if model == "rational_polynomial":  # plumb_bob's superset, as OpenCV reads it
                model = "plumb_bob"
            distortion = tuple(camera_info.d) if any(camera_info.d) else ()
            return CameraModel(int(camera_info.width), int(camera_info.height), k[0], k[4], k[2], k[5], distortion,
                               self.camera_rotation_imu(), model, self.camera_translation_imu())
        if not self.camera_intrinsics:
            return None
        fx, fy, cx, cy = self.camera_intrinsics
        width, height = self.camera_resolution
        return CameraModel(int(width), int(height), fx, fy, cx, cy, tuple(self.camera_distortion),
                           self.camera_rotation_imu(), self.camera_distortion_model, self.camera_translation_imu())


@dataclass(frozen=True)
class CameraInfoValues:
    """The fields of a sensor_msgs/CameraInfo the estimator uses (ROS-free)."""

    width: int
    height: int
    k: tuple[float, ...]  # row-major 3x3 camera matrix
    d: tuple[float, ...]  # distortion coefficients
    distortion_model: str  # "plumb_bob", "rational_polynomial", "equidistant", ...

    @classmethod
    def from_message(cls, msg: Any) -> CameraInfoValues:
        """From a CameraInfo message: rclpy's live one or a decoded rosbags one (same fields)."""
        return cls(int(msg.width), int(msg.height), tuple(float(v) for v in msg.k), tuple(float(v) for v in msg.d),
                   str(msg.distortion_model))


@dataclass(frozen=True)
class NodeConfigs:
    """The three sections the node reads."""

    vio: VioNodeConfig
    sync: SyncConfig
    estimator: EstimatorConfig


def load_node_configs(path: str | Path, *, node_name: str = "vio_node") -> NodeConfigs:
    """The node's configs from a parameter YAML, as the node itself would read them.

    Raises:
        ConfigError: the file or a value is invalid.
    """
    return NodeConfigs(vio=load_section(path, "vio", VioNodeConfig, node_name=node_name),
                       sync=load_section(path, "sync", SyncConfig, node_name=node_name),
                       estimator=load_section(path, "estimator", EstimatorConfig, node_name=node_name))


def transform_from_row_major(values: tuple[float, ...], *, name: str = "transform") -> np.ndarray:
    """A (4, 4) rigid transform from 16 row-major numbers, its rotation re-orthonormalised.

    Raises:
        ConfigError: not 16 finite numbers, the last row is not [0, 0, 0, 1], or the
            rotation part is not a rotation (within 1e-3).
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.shape != (16,) or not np.all(np.isfinite(matrix)):
        raise ConfigError(f"{name}: expected 16 finite numbers (a 4x4 row-major matrix), got {len(values)}")
    matrix = matrix.reshape(4, 4)  # (16,) -> (4, 4) row-major
    rotation = matrix[:3, :3]
    if not np.allclose(matrix[3], [0, 0, 0, 1]) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3) \
            or np.linalg.det(rotation) < 0:
        raise ConfigError(f"{name}: not a rigid transform (rotation not orthonormal or last row not 0 0 0 1)")
    result = np.eye(4)
    result[:3, :3] = quat_wxyz_to_matrix(matrix_to_quat_wxyz(rotation))
    result[:3, 3] = matrix[:3, 3]
    return result


def resolve_model_path(model_path: str, *, repo_root: Path | None = None) -> str:
    """The model the node loads: ``model_path`` itself, or the installed default for "".

    The default is ``share/arvr_hybrid_vio/models/hybrid.safetensors`` of the ament
    index when ``ament_index_python`` finds the package there, else the source tree's
    ``models/hybrid.safetensors``.

    Raises:
        ModelFileError: "" was given and no default model exists (names the places looked at).
    """
    if model_path:
        return model_path
    candidates = _default_model_candidates(repo_root)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    looked = ", ".join(str(c) for c in candidates)
    raise ModelFileError(f"no default model found (looked at {looked}); set vio.model_path to a model file "
                         f"or to '{IMU_ONLY}'")


def _default_model_candidates(repo_root: Path | None) -> list[Path]:
    installed = installed_share_path("models", DEFAULT_MODEL_NAME)
    root = repo_root or Path(__file__).resolve().parents[2]
    return ([installed] if installed is not None else []) + [root / "models" / DEFAULT_MODEL_NAME]


def installed_share_path(*parts: str) -> Path | None:
    """``share/arvr_hybrid_vio/<parts>`` of the ament index, or None without an ament install."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:  # pragma: no cover - ament_index_python ships with rclpy
        return None
    try:
        return Path(get_package_share_directory(PACKAGE), *parts)
    except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset (a plain venv)
        return None


def estimate_in_base(estimate: PoseEstimate, T_base_imu: np.ndarray) -> PoseEstimate:
    """The estimator's IMU-frame estimate expressed for ``base_link`` (identity: unchanged).

    Pose: ``T_odom_base = T_odom_imu @ inv(T_base_imu)``. Twist in base axes, with the
    lever arm ``r`` (IMU -> base origin, IMU axes): ``v_base = R_base_imu (v_imu + w_imu x r)``.
    Covariances follow to first order, lever arm included. Pose (odom axes, rotation as a
    world-frame perturbation): ``dp_base = dp_imu - [R_odom_imu r]x dtheta``. Twist:
    ``dv_base = R_base_imu (dv_imu - [r]x dw)``, ``dw_base = R_base_imu dw``.
    """
    if np.allclose(T_base_imu, np.eye(4)):
        return estimate
    R_base_imu = T_base_imu[:3, :3]
    T_imu_base = np.linalg.inv(T_base_imu)
    lever_imu = T_imu_base[:3, 3]
    R_odom_imu = quat_wxyz_to_matrix(estimate.quat_wxyz)
    position = estimate.position_xyz + R_odom_imu @ lever_imu
    rotation = R_odom_imu @ T_imu_base[:3, :3]
    omega = np.asarray(estimate.angular_velocity_xyz, dtype=np.float64)
    velocity = R_base_imu @ (estimate.linear_velocity_xyz + np.cross(omega, lever_imu))
    pose_jacobian = np.eye(6)
    pose_jacobian[:3, 3:] = -hat(R_odom_imu @ lever_imu)
    twist_jacobian = np.kron(np.eye(2), R_base_imu)
    twist_jacobian[:3, 3:] = -R_base_imu @ hat(lever_imu)
    pose_cov = np.asarray(estimate.pose_covariance, dtype=np.float64)
    twist_cov = np.asarray(estimate.twist_covariance, dtype=np.float64)
    return PoseEstimate(stamp_ns=estimate.stamp_ns, position_xyz=position, quat_wxyz=matrix_to_quat_wxyz(rotation),
                        linear_velocity_xyz=velocity, angular_velocity_xyz=R_base_imu @ omega,
                        pose_covariance=pose_jacobian @ pose_cov @ pose_jacobian.T,
                        twist_covariance=twist_jacobian @ twist_cov @ twist_jacobian.T)


def estimate_is_finite(estimate: PoseEstimate) -> bool:
    """Whether every number of an estimate is finite (nothing non-finite is ever published)."""
    values = (estimate.position_xyz, estimate.quat_wxyz, estimate.linear_velocity_xyz, estimate.angular_velocity_xyz,
              estimate.pose_covariance, estimate.twist_covariance)
    # one check over all 64 numbers: this runs for every IMU-rate pose
    return bool(np.isfinite(np.concatenate([np.ravel(np.asarray(value, dtype=np.float64)) for value in values])).all())
