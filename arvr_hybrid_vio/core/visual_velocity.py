"""The estimator's metric velocity from the camera and the IMU, with no learning involved.

:class:`VisualVelocity` keeps persistent feature tracks (``core.feature_tracker``) and, for the
same frames, the body's orientation and IMU preintegration; each frame it solves the window for the
world velocity (``core.window_velocity``) and returns it at the start of the newest frame interval,
the instant the estimator's velocity state refers to. The estimator fuses it with the IMU-propagated
velocity and with the motion source's (the network's) velocity in one Kalman update each, so the
network is a prior and the geometry fixes the metric scale, as in filter-based VIO.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

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
    frame_stride: int = 4  # the solve uses every this many frames of the window, the newest included
    tilt_correction_per_s: float = 0.2  # roll/pitch pull towards the window's gravity leak, 1/s (0: off; tuned on val)
    solve: WindowVelocityConfig = field(default_factory=WindowVelocityConfig)  # the linear solve
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # the persistent feature tracks


@dataclass(frozen=True)
class VelocityMeasurement:
    """A world velocity measurement at one instant."""

    velocity_xyz: np.ndarray  # (3,) world, m/s
    covariance: np.ndarray  # (3, 3) (m/s)^2
    features_used: int  # features in the solve
    acceleration_xyz: np.ndarray  # (3,) the window's world acceleration error (gravity leak, bias), m/s^2


@dataclass(frozen=True)
class _WindowFrame:
    rotation: np.ndarray  # (3, 3) R_world_body at the frame
    pre: Preintegration | None  # the IMU from the previous window frame to this one (None: the first)


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

    def reset(self) -> None:
        """Forget the window (after a reset, a long gap or a skipped frame)."""
        self.tracker.reset()
        self._frames.clear()
        self.last = None

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig camera (None: the shipped models' training camera at the images' size)."""
        self._rig = camera
        self._camera = None
        self.reset()

    def add_frame(self, image: np.ndarray, rotation_world_body: np.ndarray,
                  pre: Preintegration | None) -> VelocityMeasurement | None:
        """Add a frame; the world velocity at the start of its interval (the previous frame), or None.

        Args:
            image: (H, W) uint8.
            rotation_world_body: (3, 3) the body's orientation at this frame.
            pre: the IMU preintegrated from the previous frame to this one; None starts a new window.
        """
        if pre is None:
            self.reset()
        camera = self._camera_for(image.shape)
        self.tracker.add_frame(image, lambda pixels: undistorted_normalised(camera, pixels))
        self._frames.append(_WindowFrame(np.asarray(rotation_world_body, dtype=np.float64), pre))
        self._trim()
        stride = max(1, self.config.frame_stride)
        chosen = np.arange(len(self._frames) - 1, -1, -stride)[::-1]  # solved frames, the newest included
        if len(chosen) < 3:
            return None
        times, rotations, offsets, velocity_change = self._kinematics(camera, int(chosen[0]))
        chosen = chosen - chosen[0]
        self.last = solve_window_velocity(self.tracker.observations(chosen + (len(self._frames) - len(times))),
                                          times[chosen], rotations[chosen] @ camera.rotation, offsets[chosen],
                                          self.config.solve)
        if self.last is None:
            return None
        velocity, covariance = self.last.velocity_at(float(times[-2]))  # at the previous frame
        covariance = covariance + self.config.solve.velocity_floor_m_s ** 2 * np.eye(3)
        return VelocityMeasurement(velocity + velocity_change, covariance, self.last.features_used,
                                   self.last.acceleration_xyz)

    def _camera_for(self, shape: tuple[int, ...]) -> CameraModel:
        height, width = shape
        if self._camera is None or (self._camera.width, self._camera.height) != (width, height):
            rig = self._rig if self._rig is not None else trained_camera(ModelConfig())
            self._camera = scaled_to(rig, width, height) if (rig.width, rig.height) != (width, height) else rig
            self.tracker.reset()
            self._frames.clear()
        return self._camera

    def _trim(self) -> None:
        """Drop the oldest frames while the window spans more than ``window_s``."""
        span = sum(frame.pre.dt_s for frame in list(self._frames)[1:])
        while len(self._frames) > 2 and span > self.config.window_s:
            self._frames.popleft()
            self.tracker.drop_oldest()
            span -= self._frames[0].pre.dt_s
            self._frames[0] = _WindowFrame(self._frames[0].rotation, None)

    def _kinematics(self, camera: CameraModel, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """From window frame ``first`` on: frame times (N,), body rotations (N, 3, 3), camera offsets
        ``s_i + R_i t`` (N, 3), and the IMU's velocity change to the newest interval's start (3,)."""
        gravity = np.array([0.0, 0.0, -self.gravity_m_s2])
        frames = list(self._frames)[first:]
        count = len(frames)
        times, offsets = np.zeros(count), np.zeros((count, 3))
        rotations = np.stack([frame.rotation for frame in frames])
        velocity = np.zeros(3)  # IMU velocity change since the window start, world
        changes = [velocity]
        for index in range(1, count):
            pre, rotation = frames[index].pre, rotations[index - 1]
            dt = pre.dt_s
            offsets[index] = offsets[index - 1] + velocity * dt + 0.5 * gravity * dt * dt + rotation @ pre.delta_position
            velocity = velocity + gravity * dt + rotation @ pre.delta_velocity
            times[index] = times[index - 1] + dt
            changes.append(velocity)
        offsets += rotations @ np.asarray(camera.t_imu_camera, dtype=np.float64)
        return times, rotations, offsets, changes[-2]
