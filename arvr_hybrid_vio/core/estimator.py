"""The streaming visual-inertial estimator: the only path from sensor data to poses.

``VioEstimator`` is fed synced frames (``step``) and, between frames, raw IMU
samples (``propagate_imu``). It initialises roll and pitch from the first
``init_duration_s`` of accelerometer data (zero velocity, zero yaw, origin), then
composes per-frame relative motions from a :class:`MotionSource` (strapdown for
``"imu-only"``, a trained network otherwise) into poses in ``odom``.

The velocity at each frame is a Kalman estimate: the IMU propagates it, and it is updated with the
motion source's velocity (the network's, when it has one) and with the camera's metric window
velocity (``core.visual_velocity``: persistent feature tracks and the IMU over the last 4 s,
solved linearly; ``visual_velocity.enabled``).

Bad input never reaches the outputs: a frame or IMU sample with NaN/Inf, a
malformed image, or a stamp that goes back is skipped and counted in
``counters``; the state becomes ``"degraded"`` until the next good frame.
"""
from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from arvr_hybrid_vio.core.devices import check_device
from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, nearest_rotation, so3_exp
from arvr_hybrid_vio.core.model.motion_source import MotionSource, RelativeMotion, StrapdownMotion
from arvr_hybrid_vio.core.network_consistency import NetworkConsistency
from arvr_hybrid_vio.core.strapdown import (
    GRAVITY_M_S2, NavState, Preintegration, apply_preintegration, preintegrate, preintegrate_interval,
    static_gyro_bias, static_initial_state, velocity_from_displacement)
from arvr_hybrid_vio.core.types import PoseEstimate, SyncedFrame
from arvr_hybrid_vio.core.visual_velocity import VelocityMeasurement, VisualVelocity, VisualVelocityConfig

if TYPE_CHECKING:  # cv2 and torch only when a learned model is used
    from arvr_hybrid_vio.core.model.camera_input import CameraModel

LOGGER = logging.getLogger(__name__)
IMU_ONLY = "imu-only"
COUNTER_NAMES = ("frames", "frames_tracked", "frames_skipped_nonfinite", "frames_skipped_invalid",
                 "frames_skipped_out_of_order", "imu_samples", "imu_skipped_nonfinite",
                 "imu_skipped_out_of_order", "gaps_coasted", "resets", "visual_velocity_updates")
_IDENTITY = np.eye(3)
INITIAL_VELOCITY_VAR = 0.1 ** 2  # (m/s)^2 after the static initialisation (not always truly static)


@dataclass(frozen=True)
class EstimatorConfig:
    """Settings of the streaming estimator (ROS parameter section ``estimator``)."""

    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    cuda_graph: bool = True  # on CUDA: replay the network step as a CUDA graph once its state is steady
    # what runs the network: "auto" (onnxruntime where the device is the CPU, torch on CUDA; the default since
    # 2026-11-28, docs/performance_history.md, "ONNX Runtime on the CPU"), "torch", or "onnxruntime" (CPU only: the model's ONNX
    # export, exported once per model file into onnx_cache_dir)
    network_runtime: str = "auto"
    onnx_cache_dir: str = ""  # where ONNX exports are kept; "": $ARVR_VIO_CACHE_DIR, else ~/.cache/arvr_hybrid_vio
    init_duration_s: float = 0.5  # accelerometer span averaged for roll/pitch at start, s
    gravity_m_s2: float = GRAVITY_M_S2  # gravity magnitude, m/s^2
    max_gap_s: float = 1.0  # IMU gap above which the pose is held and temporal state reset, s
    gyro_noise_density: float = 1.7e-4  # for the imu-only rotation covariance, rad/s/sqrt(Hz)
    torch_threads: int = 0  # the network's intra-op threads on CPU (torch or onnxruntime); 0 leaves the default
    imu_history_s: float = 1.0  # IMU kept for re-propagation after a late frame, s
    tilt_correction_per_s: float = 0.2  # every source: roll/pitch pull towards the accelerometer, 1/s (0: off)
    # every source: the pull is skipped while the specific force's 1 s mean leans more than this from the
    # vertical (sustained acceleration, as a multirotor's), deg; 0: never skipped (head motion: walking is
    # worse with a gate); config/vio_euroc.yaml, a multirotor, sets 2 (docs/accuracy_history.md, "Drone motion in training and validation")
    tilt_gate_deg: float = 0.0
    # every source: the pull on the estimator's orientation subtracts the estimator's own acceleration (its velocity
    # change over the last frame interval) from the specific force, so that a sustained acceleration is not read
    # as a tilt (false: assume none). Only where the velocity is measured (the window, a learned source): a pure
    # strapdown velocity comes from the same attitude, and taking it off would cancel the pull. Chosen on val,
    # 2026-11-28: hybrid mean ATE 11.9 -> 11.0 cm, Multi-Head 16.4 -> 13.1 (docs/accuracy_history.md, "The start's tilt, and the
    # accelerometer pull")
    tilt_motion_compensated: bool = True  # the accelerometer pull subtracts the estimator's own acceleration
    # a start at rest (the init span's per-axis gyro std below this, rad/s, its accelerometer's below 10x this,
    # m/s^2) reads the gyro bias as the span's mean gyro, taken off in the estimator from then on (its orientation,
    # the window's attitudes, the IMU-rate path; the network's inputs stay raw, as trained); 0: off. Off by default:
    # on val (2026-11-29 00:41-00:43 UTC, 2-core Intel Xeon, 0.01) it helped the hybrid (mean ATE 11.02 -> 10.40 cm) but not the Multi-Head
    # (12.88 -> 13.59) (docs/accuracy_history.md, "The gyro bias, estimated online"); 0.01 suits a rig that starts still
    static_gyro_bias_std_rad_s: float = 0.0
    velocity_random_walk: float = 0.12  # IMU velocity drift in the velocity fusion, m/s/sqrt(s) (tuned on val, 2026-11-28)
    velocity_measurement_scale: float = 1.0  # learned models: multiplies the network's velocity variance
    # learned models with the window: time constant of the network-vs-window consistency (NIS) mean that
    # inflates the network's velocity variance when it disagrees with the window, s (0: off; core.network_consistency)
    network_consistency_s: float = 4.0
    # metric velocity from persistent feature tracks and the IMU over a window (core.visual_velocity)
    visual_velocity: VisualVelocityConfig = field(default_factory=VisualVelocityConfig)


class VioEstimator:
    """Streaming estimator: ``step`` per synced frame, ``propagate_imu`` per IMU sample."""

    def __init__(self, config: EstimatorConfig, source: MotionSource) -> None:
        """Build an estimator around a motion source (see ``from_file``)."""
        check_device(config.device, setting="estimator.device")
        if not config.network_consistency_s >= 0.0:
            raise ConfigError(f"estimator.network_consistency_s must be >= 0 (0: off), got {config.network_consistency_s}")
        if not config.static_gyro_bias_std_rad_s >= 0.0:
            raise ConfigError("estimator.static_gyro_bias_std_rad_s must be >= 0 (0: off), got "
                              f"{config.static_gyro_bias_std_rad_s}")
        if not 0.0 <= config.tilt_gate_deg < 90.0:
            raise ConfigError(f"estimator.tilt_gate_deg must be in [0, 90) deg (0: no gate), got {config.tilt_gate_deg}")
        self.config = config
        self.source = source
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._imu_history: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
        self.visual_velocity = (VisualVelocity(config.visual_velocity, gravity_m_s2=config.gravity_m_s2)
                                if config.visual_velocity.enabled else None)
        self.network_consistency = NetworkConsistency(config.network_consistency_s)
        # the accelerometer pull takes off the estimator's acceleration only where something measures the velocity
        # (pure strapdown: its acceleration is the pulled attitude's own, and would cancel the pull)
        self._compensates_pull = config.tilt_motion_compensated and (
            self.visual_velocity is not None or source.measures_velocity)
        self.reset()
        self.counters["resets"] = 0

    @classmethod
    def from_file(cls, model_path: str | Path, config: EstimatorConfig) -> VioEstimator:
        """Estimator for a model file, or the strapdown baseline for ``"imu-only"``.

        Raises:
            ModelFileError: the file is missing, truncated, or of another version/architecture.
        """
        if str(model_path) == IMU_ONLY:
            source: MotionSource = StrapdownMotion(gravity_m_s2=config.gravity_m_s2,
                                                   gyro_noise_density=config.gyro_noise_density,
                                                   tilt_correction_per_s=config.tilt_correction_per_s,
                                                   tilt_gate_deg=config.tilt_gate_deg)
        else:
            from arvr_hybrid_vio.core.model.learned_motion import LearnedMotion  # torch only when needed
            source = LearnedMotion.from_file(Path(model_path), device=config.device,
                                             torch_threads=config.torch_threads, cuda_graph=config.cuda_graph,
                                             runtime=config.network_runtime, onnx_cache_dir=config.onnx_cache_dir,
                                             gravity_m_s2=config.gravity_m_s2,
                                             tilt_correction_per_s=config.tilt_correction_per_s,
                                             tilt_gate_deg=config.tilt_gate_deg,
                                             measurement_scale=config.velocity_measurement_scale)
        return cls(config, source)

    @property
    def state(self) -> str:
        """"initialising", "tracking" or "degraded"."""
        if self._nav is None:
            return "initialising"
        return "degraded" if self._degraded else "tracking"

    @property
    def last_fusion_weights(self) -> np.ndarray | None:
        """(3,) LSTM/Transformer/multi-scale weights of the last step (hybrid only), else None."""
        return self.source.fusion_weights

    @property
    def nav_state(self) -> NavState | None:
        """The state at the last tracked frame (None while initialising)."""
        return self._nav

    def reset(self) -> None:
        """Forget everything and initialise again from the next frames."""
        self._nav: NavState | None = None
        self._degraded = False
        self._init_stamps: list[np.ndarray] = []
        self._init_accel: list[np.ndarray] = []
        self._init_gyro: list[np.ndarray] = []
        self._initialised_ns = 0  # the stamp the state started at (static_initial_state)
        self._levelling_from_ns: int | None = None  # the stamp of the window's first levelling after initialising
        self._velocity_before: tuple[int, np.ndarray] | None = None  # (stamp, world velocity) a frame before _nav
        self._pose_cov = np.zeros((6, 6))
        self._twist_cov = np.eye(6) * 1e-2
        self._last_gyro = np.zeros(3)
        self._gyro_bias = np.zeros(3)  # read at a static start (static_gyro_bias_std_rad_s), rad/s
        self._prop: tuple[NavState, int, np.ndarray, np.ndarray] | None = None
        self._imu_history.clear()
        self._restart_temporal_state(forget_tracks=True)
        self.counters["resets"] += 1

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig's camera (intrinsics, distortion, mount relative to the IMU) for the visual input.

        None (the default) assumes the camera the model was trained with, at the images' size.
        """
        self.source.set_camera(camera)
        if self.visual_velocity is not None:
            self.visual_velocity.set_camera(camera)

    def step(self, frame: SyncedFrame, upcoming: Sequence[SyncedFrame] = ()) -> PoseEstimate | None:
        """Process one synced frame; the pose at ``frame.stamp_ns``, or None (initialising or skipped).

        Args:
            upcoming: the frames that will follow, in order, when the caller already has them
                (offline replay). A learned source then evaluates its network over them in one
                pass; the poses are those of frame-by-frame steps (to float round-off). Live
                callers pass nothing.
        """
        self.counters["frames"] += 1
        if not self._accept_frame(frame):
            self._degraded = self._nav is not None
            return None
        if self._nav is None:
            return self._initialise(frame)
        state = self._coast_over_gap(int(frame.imu_stamps_ns[0]))
        pre = self.source.preintegration_ahead(frame)  # computed with the frames evaluated ahead
        if pre is None:
            pre = preintegrate(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2)
        unbiased = self._unbiased_turn(pre)
        visual = self._visual_measurement(frame, state, pre, unbiased)
        motion = self.source.relative_motion(frame, state, pre, upcoming, acceleration_xyz=self._acceleration())
        if not _is_finite_motion(motion):
            self.counters["frames_skipped_nonfinite"] += 1
            self._degraded = True
            return None
        self._compose(state, pre, motion, self._fused_velocity(state, pre, motion, visual), int(frame.stamp_ns),
                      unbiased=unbiased)
        if visual is not None:
            self._level_with(visual, pre.dt_s * max(1, self.config.visual_velocity.solve_every))
        self._last_gyro = self._unbiased_gyro(frame.gyro_rad_s[-1])
        self._degraded = False
        self.counters["frames_tracked"] += 1
        self._restart_propagation(frame)
        return self._estimate(self._nav)

    def finish_frame(self) -> None:
        """Work for the next frame that the last frame's pose does not wait for: the corners the next
        image's network tracks start from (the source's ``prepare_reference``), then, with
        ``visual_velocity.defer_solve``, the window solve. A live caller calls it once the pose is out;
        the next image's tracking and ``step`` do that work otherwise, so the poses are the same either way."""
        if self._nav is not None:
            self.source.prepare_reference()
        if self.visual_velocity is not None:
            self.visual_velocity.solve_pending()

    def prepare_image(self, stamp_ns: int, image: np.ndarray) -> None:
        """Visual work for a frame that still waits for its IMU (live; ``stamp_ns`` as the synced frame
        will carry it): the source may do it now, so that ``step`` on that frame is shorter. The poses
        are the same with or without it."""
        if self._nav is not None:
            self.source.prepare_image(stamp_ns, image)
            if self.visual_velocity is not None:
                self.visual_velocity.prepare_image(stamp_ns, image)

    def propagate_imu(self, stamp_ns: int, gyro_rad_s: np.ndarray, accel_m_s2: np.ndarray) -> PoseEstimate | None:
        """IMU-rate prediction: the last frame estimate propagated with the IMU up to ``stamp_ns``.

        Returns None while initialising, for non-finite samples and for stamps not after the
        last propagated one. At a frame stamp it equals the frame estimate.
        """
        self.counters["imu_samples"] += 1
        gyro = np.asarray(gyro_rad_s, dtype=np.float64).reshape(3)
        accel = np.asarray(accel_m_s2, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(gyro)) and np.all(np.isfinite(accel))):
            self.counters["imu_skipped_nonfinite"] += 1
            return None
        stamp_ns = int(stamp_ns)
        self._remember_imu(stamp_ns, gyro, accel)
        if self._prop is None:
            return None
        if stamp_ns <= self._prop[1]:
            self.counters["imu_skipped_out_of_order"] += 1
            return None
        self._advance_propagation(stamp_ns, gyro, accel)
        return self._estimate(self._prop[0], angular_velocity=self._prop[2])

    # ---- frames -------------------------------------------------------------------------

    def _accept_frame(self, frame: SyncedFrame) -> bool:
        if not frame.is_well_formed():
            self.counters["frames_skipped_invalid"] += 1
            return False
        if not frame.is_finite():
            self.counters["frames_skipped_nonfinite"] += 1
            return False
        last_stamp = self._nav.stamp_ns if self._nav is not None else (
            int(self._init_stamps[-1][-1]) if self._init_stamps else None)
        if last_stamp is not None and int(frame.stamp_ns) <= last_stamp:
            self.counters["frames_skipped_out_of_order"] += 1
            return False
        return True

    def _initialise(self, frame: SyncedFrame) -> PoseEstimate | None:
        self._init_stamps.append(np.asarray(frame.imu_stamps_ns, dtype=np.int64))
        self._init_accel.append(np.asarray(frame.accel_m_s2, dtype=np.float64))
        self._init_gyro.append(np.asarray(frame.gyro_rad_s, dtype=np.float64))
        span_s = (int(self._init_stamps[-1][-1]) - int(self._init_stamps[0][0])) * 1e-9
        if span_s < self.config.init_duration_s:
            if self.visual_velocity is not None:  # the feature tracks start with the first frame
                self.visual_velocity.track_only(int(frame.stamp_ns), frame.image)
            return None
        stamps = np.concatenate(self._init_stamps)
        self._nav = static_initial_state(stamps, np.concatenate(self._init_accel))
        self._read_gyro_bias(np.concatenate(self._init_gyro), np.concatenate(self._init_accel))
        self._initialised_ns = self._nav.stamp_ns
        self._init_stamps, self._init_accel, self._init_gyro = [], [], []
        self._pose_cov = np.diag([1e-6, 1e-6, 1e-6, 1e-4, 1e-4, 1e-6])
        if self.visual_velocity is not None:
            self.visual_velocity.add_frame(int(frame.stamp_ns), frame.image, self._nav.rotation, None)
        self._last_gyro = self._unbiased_gyro(frame.gyro_rad_s[-1])
        self.source.start(frame)
        self.counters["frames_tracked"] += 1
        self._restart_propagation(frame)
        LOGGER.info("estimator initialised at %d ns from %.2f s of IMU", frame.stamp_ns, span_s)
        return self._estimate(self._nav)

    def _read_gyro_bias(self, gyro: np.ndarray, accel: np.ndarray) -> None:
        """The gyro bias from the init span when it was at rest (``static_gyro_bias_std_rad_s``), else none."""
        bias = static_gyro_bias(gyro, accel, max_std_rad_s=self.config.static_gyro_bias_std_rad_s)
        self._gyro_bias = np.zeros(3) if bias is None else bias
        if bias is not None:
            LOGGER.info("estimator: gyro bias read at the static start: %s rad/s", np.array2string(bias, precision=5))

    def _unbiased_gyro(self, gyro_rad_s: np.ndarray) -> np.ndarray:
        """A gyro sample (3,) with the bias read at a static start taken off (none read: zeros taken off)."""
        return np.asarray(gyro_rad_s, dtype=np.float64) - self._gyro_bias

    def _unbiased_turn(self, pre: Preintegration) -> np.ndarray:
        """(3, 3) the turn the gyro bias added over the interval, undone (``exp(-b dt)``, to the right of a
        rotation from the raw gyro; first order in ``b dt``, ~1e-4 rad a frame): the identity when no bias was read."""
        if not np.any(self._gyro_bias):
            return _IDENTITY
        return so3_exp(-self._gyro_bias * pre.dt_s)

    def _coast_over_gap(self, start_ns: int) -> NavState:
        """The state moved to ``start_ns`` when the frame's IMU starts later than the last frame."""
        nav = self._nav
        gap_s = (start_ns - nav.stamp_ns) * 1e-9
        if gap_s <= 1e-4:
            return nav
        self.counters["gaps_coasted"] += 1
        if gap_s > self.config.max_gap_s:
            LOGGER.warning("IMU gap of %.2f s: holding the pose and resetting temporal state", gap_s)
            self._restart_temporal_state()
            return NavState(start_ns, nav.rotation, nav.position_xyz, np.zeros(3))
        if self.visual_velocity is not None:
            self.visual_velocity.reset()  # the window's IMU has a hole
        return NavState(start_ns, nav.rotation, nav.position_xyz + nav.velocity_xyz * gap_s, nav.velocity_xyz)

    def _restart_temporal_state(self, *, forget_tracks: bool = False) -> None:
        """The motion source, the camera window and the velocity's uncertainty start afresh; the
        window's feature tracks too with ``forget_tracks`` (a reset), else they go on (a long gap)."""
        self.source.reset()
        if self.visual_velocity is not None:
            if forget_tracks:
                self.visual_velocity.restart()
            else:
                self.visual_velocity.reset()
        self._velocity_cov = np.eye(3) * INITIAL_VELOCITY_VAR  # world, of the state's velocity
        self.network_consistency.reset()

    def _visual_measurement(self, frame: SyncedFrame, state: NavState, pre: Preintegration,
                            unbiased: np.ndarray) -> VelocityMeasurement | None:
        """The camera window's velocity at the frame interval's start (None: disabled or no solution)."""
        if self.visual_velocity is None:
            return None
        measurement = self.visual_velocity.add_frame(int(frame.stamp_ns), frame.image,
                                                     state.rotation @ pre.delta_rotation @ unbiased, pre)
        if measurement is not None:
            self.counters["visual_velocity_updates"] += 1
        return measurement

    def _fused_velocity(self, state: NavState, pre: Preintegration, motion: RelativeMotion,
                        visual: VelocityMeasurement | None) -> np.ndarray:
        """World velocity at the interval start: the IMU-propagated one, Kalman-updated with the source's
        measurement and the camera window's (each when present)."""
        covariance = self._velocity_cov + np.eye(3) * self.config.velocity_random_walk ** 2 * max(pre.dt_s, 1e-3)
        velocity = state.velocity_xyz
        if motion.velocity_body is not None:
            measured, measured_cov = state.rotation @ motion.velocity_body, np.eye(3) * motion.velocity_var
            if visual is not None:  # a solve stands for the frames since the previous one
                seconds_per_solve = max(pre.dt_s, 1e-3) * self.config.visual_velocity.solve_every
                self.network_consistency.observe(measured, measured_cov, visual.velocity_xyz, visual.covariance,
                                                 seconds_per_solve=seconds_per_solve)
            measured_cov = measured_cov * self.network_consistency.inflation()
            velocity, covariance = _kalman_update(velocity, covariance, measured, measured_cov)
        if visual is not None:
            velocity, covariance = _kalman_update(velocity, covariance, visual.velocity_xyz, visual.covariance)
        self._velocity_cov = covariance
        return velocity

    def _level_with(self, visual: VelocityMeasurement, dt_s: float) -> None:
        """Turn roll and pitch towards what the window's acceleration error says: gravity leaking into
        the horizontal, ``a_h = g (-d_y, d_x)`` for a small world tilt error ``d``, at a rate of
        ``visual_velocity.tilt_correction_per_s``. It holds the tilt error steady against gyro drift,
        which the window's constant ``a`` then absorbs. ``dt_s``: the time one solve stands for.

        For ``visual_velocity.initial_levelling_s`` from the first solve after initialising, the rate is
        ``initial_tilt_correction_per_s`` and the window's history turns with the orientation
        (``VisualVelocity.rotate_world``): the start's static guess is levelled in a second or two, where the
        window, still holding the old attitudes, would otherwise report the corrected leak again."""
        settings = self.config.visual_velocity
        if self._levelling_from_ns is None:
            self._levelling_from_ns = self._nav.stamp_ns
        initial = (self._nav.stamp_ns - self._levelling_from_ns) * 1e-9 < settings.initial_levelling_s
        rate = settings.initial_tilt_correction_per_s if initial else settings.tilt_correction_per_s
        if rate <= 0.0:
            return
        error = visual.acceleration_xyz / self.config.gravity_m_s2
        tilt = np.array([error[1], -error[0], 0.0]) * min(1.0, rate * dt_s)
        correction = so3_exp(-tilt)
        nav = self._nav
        self._nav = NavState(nav.stamp_ns, nearest_rotation(correction @ nav.rotation), nav.position_xyz,
                             nav.velocity_xyz)
        if initial and self.visual_velocity is not None:
            self.visual_velocity.rotate_world(correction)

    def _acceleration(self) -> np.ndarray | None:
        """The estimator's world acceleration over the last frame interval, m/s^2, for the accelerometer pull
        (``tilt_motion_compensated``); None when off, before two frame states, or where nothing measures the
        velocity (``_compensates_pull``)."""
        if not self._compensates_pull or self._velocity_before is None:
            return None
        stamp_ns, velocity = self._velocity_before
        return (self._nav.velocity_xyz - velocity) / max((self._nav.stamp_ns - stamp_ns) * 1e-9, 1e-3)

    def _compose(self, state: NavState, pre: Preintegration, motion: RelativeMotion, start_velocity: np.ndarray,
                 stamp_ns: int, *, unbiased: np.ndarray) -> None:
        self._velocity_before = (self._nav.stamp_ns, self._nav.velocity_xyz)
        rotation = nearest_rotation(state.rotation @ motion.delta_rotation @ unbiased)
        dt_s = max(pre.dt_s, 1e-3)
        displacement = start_velocity * pre.dt_s + state.rotation @ motion.displacement_at_rest
        _, velocity = velocity_from_displacement(state, pre, displacement, gravity_m_s2=self.config.gravity_m_s2)
        self._nav = NavState(stamp_ns, rotation, state.position_xyz + displacement, velocity)
        world_t = self._velocity_cov * pre.dt_s ** 2
        world_r = state.rotation @ np.diag(motion.rotation_var) @ state.rotation.T
        self._pose_cov[:3, :3] += world_t
        self._pose_cov[3:, 3:] += world_r
        self._twist_cov = np.zeros((6, 6))
        self._twist_cov[:3, :3] = state.rotation.T @ self._velocity_cov @ state.rotation * (pre.dt_s / dt_s) ** 2
        self._twist_cov[3:, 3:] = np.diag(motion.rotation_var) / dt_s ** 2

    def _estimate(self, nav: NavState, *, angular_velocity: np.ndarray | None = None) -> PoseEstimate:
        omega = self._last_gyro if angular_velocity is None else angular_velocity
        return PoseEstimate(
            stamp_ns=int(nav.stamp_ns), position_xyz=nav.position_xyz.copy(),
            quat_wxyz=matrix_to_quat_wxyz(nav.rotation), linear_velocity_xyz=nav.rotation.T @ nav.velocity_xyz,
            angular_velocity_xyz=np.array(omega, dtype=np.float64), pose_covariance=self._pose_cov.copy(),
            twist_covariance=self._twist_cov.copy())

    # ---- IMU-rate propagation ---------------------------------------------------------------

    def _remember_imu(self, stamp_ns: int, gyro: np.ndarray, accel: np.ndarray) -> None:
        history = self._imu_history
        if history and stamp_ns <= history[-1][0]:
            return
        history.append((stamp_ns, gyro, accel))
        horizon = stamp_ns - int(self.config.imu_history_s * 1e9)
        while history and history[0][0] < horizon:
            history.popleft()

    def _restart_propagation(self, frame: SyncedFrame) -> None:
        """Anchor propagation at the new frame estimate and replay IMU already seen after it.

        The history is in stamp order, so the samples after the frame are its newest few (none or one in a
        live node): found from the newest end, not by scanning the whole second of history each frame."""
        anchor_ns = int(frame.stamp_ns)
        self._prop = (self._nav, anchor_ns, self._unbiased_gyro(frame.gyro_rad_s[-1]),
                      np.asarray(frame.accel_m_s2[-1], dtype=np.float64))
        later = list(itertools.takewhile(lambda sample: sample[0] > anchor_ns, reversed(self._imu_history)))
        for stamp_ns, gyro, accel in reversed(later):
            self._advance_propagation(stamp_ns, gyro, accel)

    def _advance_propagation(self, stamp_ns: int, gyro: np.ndarray, accel: np.ndarray) -> None:
        """One raw IMU sample onto the IMU-rate state (the gyro bias read at a static start taken off)."""
        gyro = self._unbiased_gyro(gyro)
        nav, last_ns, last_gyro, last_accel = self._prop
        pre = preintegrate_interval(last_ns, stamp_ns, last_gyro, gyro, last_accel, accel)
        nav = apply_preintegration(nav, pre, stamp_ns=stamp_ns, gravity_m_s2=self.config.gravity_m_s2)
        self._prop = (nav, stamp_ns, gyro, accel)


def _kalman_update(velocity: np.ndarray, covariance: np.ndarray, measured: np.ndarray,
                   measurement_cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of a (3,) state observed directly; the state and covariance after it."""
    gain = covariance @ np.linalg.inv(covariance + measurement_cov)
    updated = (np.eye(3) - gain) @ covariance
    return velocity + gain @ (measured - velocity), 0.5 * (updated + updated.T)


def _is_finite_motion(motion: RelativeMotion) -> bool:
    values = [motion.delta_rotation, motion.displacement_at_rest, motion.rotation_var, motion.velocity_var]
    if motion.velocity_body is not None:
        values.append(motion.velocity_body)
    return all(bool(np.all(np.isfinite(value))) for value in values)
