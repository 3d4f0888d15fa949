"""The estimator's metric velocity from the camera and the IMU, with no learning involved.

:class:`VisualVelocity` keeps persistent feature tracks (``core.feature_tracker``) and, for the
same frames, the body's orientation and IMU preintegration; every ``solve_every`` frames it solves the
window for the world velocity (``core.window_velocity``) and returns it at the start of the newest frame interval,
the instant the estimator's velocity state refers to. The estimator fuses it with the IMU-propagated
velocity and with the motion source's (the network's) velocity in one Kalman update each, so the
network is a prior and the geometry fixes the metric scale, as in filter-based VIO.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.feature_tracker import FeatureTracker, TrackerConfig
from arvr_hybrid_vio.core.model.camera_input import CameraModel, scaled_to, trained_camera, undistorted_normalised
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.strapdown import GRAVITY_M_S2, Preintegration
from arvr_hybrid_vio.core.window_velocity import WindowVelocity, WindowVelocityConfig, solve_window_velocity


@dataclass(frozen=True)
class VisualVelocityConfig:
    """Metric velocity from feature tracks over a window (ROS parameters ``estimator.visual_velocity.*``)."""

    enabled: bool = True  # fuse the window's velocity into the estimator (false: IMU and motion source only)
    window_s: float = 4.0  # span of the window, s (tuned on the validation split)
    frame_stride: int = 6  # the solve uses every this many frames of the window, the newest included
    solve_every: int = 2  # solve at every this many frames (tracks are kept at every frame; tuned on val)
    tilt_correction_per_s: float = 0.2  # roll/pitch pull towards the window's gravity leak, 1/s (0: off; tuned on val)
    # for this long from the window's first solve after the estimator initialises (its start attitude is a static
    # guess from the accelerometer: wrong by degrees when the start moves), the levelling runs at
    # initial_tilt_correction_per_s and also turns the window's stored attitudes (its history), so the next solves
    # no longer see the leak already corrected, s (0: off). Chosen on val, 2026-11-28: hybrid mean ATE 17.1 -> 11.9 cm
    # (docs/accuracy_history.md, "The start's tilt, and the accelerometer pull"); counted from the first solve, not
    # from initialising, since 2026-11-29 (EuRoC V1_02's first solve comes 2.7 s after initialising)
    initial_levelling_s: float = 2.0  # s from the first solve with the fast levelling that also turns the window (0: off)
    initial_tilt_correction_per_s: float = 4.0  # the levelling rate in that time, 1/s
    # solve after the frame's pose is out (VioEstimator.finish_frame) and apply it at the next frame: the
    # solve leaves the latency path; the velocity then comes from frames up to the previous one (default since
    # 2026-11-28: validation mean ATE 1-2.3 % worse, within the 3 % fixed before the run; docs/accuracy_history.md, "The window solve leaves the latency path").
    # The frame's feature tracking waits with it (the next solve is its first use)
    defer_solve: bool = True
    solve: WindowVelocityConfig = field(default_factory=WindowVelocityConfig)  # the linear solve
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # the persistent feature tracks

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.frame_stride >= 1 and self.solve_every >= 1
                and self.tilt_correction_per_s >= 0 and self.initial_levelling_s >= 0
                and self.initial_tilt_correction_per_s >= 0 and self.tracker.max_features >= self.solve.min_features):
            raise ConfigError(
                "estimator.visual_velocity: window_s must be > 0, frame_stride and solve_every >= 1, "
                "tilt_correction_per_s, initial_levelling_s and initial_tilt_correction_per_s >= 0 and "
                "tracker.max_features >= solve.min_features; got "
                f"{self.window_s}, {self.frame_stride}, {self.solve_every}, {self.tilt_correction_per_s}, "
                f"{self.initial_levelling_s}, {self.initial_tilt_correction_per_s}, "
                f"{self.tracker.max_features}, {self.solve.min_features}")


@dataclass(frozen=True)
class VelocityMeasurement:
    """A world velocity measurement at one instant."""

    velocity_xyz: np.ndarray  # (3,) world, m/s
    covariance: np.ndarray  # (3, 3) (m/s)^2
    features_used: int  # features in the solve
    acceleration_xyz: np.ndarray  # (3,) the window's world acceleration error (gravity leak, bias), m/s^2


@dataclass(frozen=True)
class _WindowFrame:
    """A window frame's orientation and the IMU's strapdown from the window's anchor (the frame that
    started it) with zero velocity there: linear in the start, so any later frame can be the origin."""

    rotation: np.ndarray  # (3, 3) R_world_body at the frame
    time_s: float  # since the anchor
    position_xyz: np.ndarray  # (3,) strapdown position since the anchor, world, m
    velocity_xyz: np.ndarray  # (3,) strapdown velocity since the anchor, world, m/s


class VisualVelocity:
    """Feature tracks and IMU over a sliding window of frames -> velocity measurements."""

    def __init__(self, config: VisualVelocityConfig, *, gravity_m_s2: float = GRAVITY_M_S2) -> None:
        self.config = config
        self.gravity_m_s2 = gravity_m_s2
        self.tracker = FeatureTracker(config.tracker)
        self._frames: deque[_WindowFrame] = deque()
        self._rig: CameraModel | None = None
        self._camera: CameraModel | None = None  # at the images' size
        self.last: WindowVelocity | None = None
        self._added = 0  # frames added since the last reset
        self._solve_scheduled = False  # defer_solve: the newest frame's solve is still to run
        self._deferred: tuple[WindowVelocity, _WindowFrame] | None = None  # its result and its origin
        # defer_solve: the newest frame, its feature tracking still to do (stamp, image, pixels -> normalised)
        self._untracked: tuple[int, np.ndarray, Callable[[np.ndarray], np.ndarray]] | None = None

    def reset(self) -> None:
        """Start a new window (after a long gap or a skipped frame); the feature tracks go on."""
        self._track_pending()  # the chain goes on through the newest frame
        self.tracker.clear_window()
        self._frames.clear()
        self.last = None
        self._added = 0
        self._solve_scheduled = False
        self._deferred = None

    def restart(self) -> None:
        """Forget the window and every feature track (an estimator reset)."""
        self._untracked = None
        self.tracker.reset()
        self.reset()

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig camera (None: the shipped models' training camera at the images' size)."""
        self._rig = camera
        self._camera = None
        self.restart()

    def prepare_image(self, stamp_ns: int, image: np.ndarray) -> None:
        """Track the features of a frame that still waits for its IMU (live); ``add_frame`` then takes
        them. The results are the same with or without it. With ``defer_solve`` nothing is done: the
        frame's tracking waits until after its pose (``solve_pending``), off the latency path even when
        the frame completes as its image arrives (an image stamp on an IMU sample)."""
        if not self.config.defer_solve:
            self.tracker.prepare(stamp_ns, image)

    def track_only(self, stamp_ns: int, image: np.ndarray) -> None:
        """Carry the feature tracks on through a frame that is not part of a window (the estimator
        initialising), so that the tracks are those of every frame the estimator accepted."""
        self._camera_for(image.shape)
        self._track_pending()
        self.tracker.track(stamp_ns, image)

    def add_frame(self, stamp_ns: int, image: np.ndarray, rotation_world_body: np.ndarray,
                  pre: Preintegration | None) -> VelocityMeasurement | None:
        """Add a frame; the world velocity at the start of its interval (the previous frame), or None.

        Args:
            stamp_ns: the frame's stamp.
            image: (H, W) uint8.
            rotation_world_body: (3, 3) the body's orientation at this frame.
            pre: the IMU preintegrated from the previous frame to this one; None starts a new window.
        """
        if pre is None:
            self.reset()  # a new window: a solve still scheduled for the old one is dropped unrun
        else:
            self.solve_pending()  # defer_solve: a solve that nobody ran after the previous frame runs now
        camera = self._camera_for(image.shape)
        to_normalised = lambda pixels: undistorted_normalised(camera, pixels)  # noqa: E731
        if self.config.defer_solve:  # tracked by solve_pending, after the pose: the next solve is its first use
            self._untracked = (int(stamp_ns), image, to_normalised)
        else:
            self.tracker.add_frame(stamp_ns, image, to_normalised)
        self._frames.append(self._strapdown(np.asarray(rotation_world_body, dtype=np.float64), pre))
        while len(self._frames) > 2 and self._frames[-1].time_s - self._frames[0].time_s > self.config.window_s:
            self._frames.popleft()
            self.tracker.drop_oldest()
        self._added += 1
        # at least three solved frames (every frame_stride-th, the newest included): more than 2 strides
        due = (len(self._frames) > 2 * max(1, self.config.frame_stride)
               and self._added % max(1, self.config.solve_every) == 0)
        if self.config.defer_solve:
            deferred, self._deferred = self._deferred, None  # solved with frames up to the previous one
            self._solve_scheduled = due
            return None if deferred is None else self._measurement(*deferred)
        solved = self._solve() if due else None
        return None if solved is None else self._measurement(*solved)

    def solve_pending(self) -> None:
        """Track the newest frame's features and run the solve ``add_frame`` scheduled (``defer_solve``);
        its velocity goes into the next frame. A no-op when nothing is pending. ``add_frame`` calls it
        first, so results never depend on whether (or when) the caller did."""
        self._track_pending()
        if self._solve_scheduled:
            self._solve_scheduled = False
            self._deferred = self._solve()

    def _track_pending(self) -> None:
        """The feature tracking ``add_frame`` left for later (``defer_solve``), into the window."""
        if self._untracked is not None:
            stamp_ns, image, to_normalised = self._untracked
            self._untracked = None
            self.tracker.add_frame(stamp_ns, image, to_normalised)

    def rotate_world(self, correction: np.ndarray) -> None:
        """Turn the window's history by the world rotation ``correction`` (3, 3), as the estimator's
        orientation was turned: every frame's attitude, and the strapdown built on them. The strapdown's
        gravity part (``g t^2 / 2`` and ``g t`` since the anchor, where its velocity is zero by construction)
        is not the attitudes' and stays; the rest is a sum of attitude-rotated IMU increments, so it turns
        with them. The window then solves as if it had been given the turned attitudes from its start."""
        correction = np.asarray(correction, dtype=np.float64)
        gravity = np.array([0.0, 0.0, -self.gravity_m_s2])
        for index, frame in enumerate(self._frames):
            t = frame.time_s
            fall, fall_velocity = 0.5 * gravity * t * t, gravity * t
            self._frames[index] = _WindowFrame(correction @ frame.rotation, t,
                                               correction @ (frame.position_xyz - fall) + fall,
                                               correction @ (frame.velocity_xyz - fall_velocity) + fall_velocity)

    def _solved_frames(self) -> np.ndarray:
        """Indices of the window frames a solve uses: every ``frame_stride``-th, the newest included."""
        return np.arange(len(self._frames) - 1, -1, -max(1, self.config.frame_stride))[::-1]

    def _solve(self) -> tuple[WindowVelocity, _WindowFrame] | None:
        """Solve the window as it stands (``self.last``); the solution and its origin frame, or None."""
        camera, chosen = self._camera, self._solved_frames()
        frames = [self._frames[int(index)] for index in chosen]
        start = frames[0]  # the solve's origin
        times = np.array([frame.time_s for frame in frames]) - start.time_s
        rotations = np.stack([frame.rotation for frame in frames])
        offsets = (np.stack([frame.position_xyz for frame in frames]) - start.position_xyz
                   - times[:, None] * start.velocity_xyz + rotations @ np.asarray(camera.t_imu_camera))
        self.last = solve_window_velocity(self.tracker.observations(chosen), times, rotations @ camera.rotation,
                                          offsets, self.config.solve)
        return None if self.last is None else (self.last, start)

    def _measurement(self, solution: WindowVelocity, start: _WindowFrame) -> VelocityMeasurement:
        """``solution`` (origin ``start``) as the velocity at the newest frame interval's start."""
        previous = self._frames[-2]
        velocity, covariance = solution.velocity_at(previous.time_s - start.time_s)
        covariance = covariance + self.config.solve.velocity_floor_m_s ** 2 * np.eye(3)
        return VelocityMeasurement(velocity + previous.velocity_xyz - start.velocity_xyz, covariance,
                                   solution.features_used, solution.acceleration_xyz)

    def _strapdown(self, rotation: np.ndarray, pre: Preintegration | None) -> _WindowFrame:
        """The new frame, its strapdown carried on from the newest frame over ``pre``."""
        if pre is None or not self._frames:
            return _WindowFrame(rotation, 0.0, np.zeros(3), np.zeros(3))
        last, dt = self._frames[-1], pre.dt_s
        gravity = np.array([0.0, 0.0, -self.gravity_m_s2])
        position = (last.position_xyz + last.velocity_xyz * dt + 0.5 * gravity * dt * dt
                    + last.rotation @ pre.delta_position)
        velocity = last.velocity_xyz + gravity * dt + last.rotation @ pre.delta_velocity
        return _WindowFrame(rotation, last.time_s + dt, position, velocity)

    def _camera_for(self, shape: tuple[int, ...]) -> CameraModel:
        height, width = shape
        if self._camera is None or (self._camera.width, self._camera.height) != (width, height):
            rig = self._rig if self._rig is not None else trained_camera(ModelConfig())
            self._camera = scaled_to(rig, width, height) if (rig.width, rig.height) != (width, height) else rig
            self.restart()
        return self._camera
