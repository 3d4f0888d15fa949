"""Data records passed between the sync buffer, the estimator and their callers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SyncedFrame:
    """One camera frame with the IMU samples since the previous frame.

    Attributes:
        stamp_ns: camera stamp (already corrected by the camera-IMU time offset), int nanoseconds.
        image: (H, W) uint8 grey image.
        imu_stamps_ns: (K,) int64, from the previous frame's stamp to this one's, both
            ends included (endpoints interpolated), strictly increasing, K >= 2.
        gyro_rad_s: (K, 3) float64 angular velocity in the IMU frame.
        accel_m_s2: (K, 3) float64 specific force in the IMU frame.
        frame_index: running count of frames since the last reset.
        dropped_frames: frames known to be missing between the previous frame and this one.
    """

    stamp_ns: int
    image: np.ndarray
    imu_stamps_ns: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray
    frame_index: int = 0
    dropped_frames: int = 0

    def is_well_formed(self) -> bool:
        """A 2-D uint8 image of at least 16 px a side and >= 2 IMU samples of the documented shapes,
        stamps strictly increasing and ending at the frame stamp."""
        image, stamps = self.image, np.asarray(self.imu_stamps_ns)
        count = stamps.shape[0] if stamps.ndim == 1 else -1
        return (isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8
                and min(image.shape) >= 16 and count >= 2
                and np.shape(self.gyro_rad_s) == (count, 3) and np.shape(self.accel_m_s2) == (count, 3)
                and bool(np.all(np.diff(stamps.astype(np.int64)) > 0)) and int(stamps[-1]) == int(self.stamp_ns))

    def is_finite(self) -> bool:
        """No NaN or Inf in the IMU samples."""
        return bool(np.all(np.isfinite(self.gyro_rad_s)) and np.all(np.isfinite(self.accel_m_s2)))

    def is_usable(self) -> bool:
        """Well formed and finite: a frame the estimator steps rather than skips (stamp order aside)."""
        return self.is_well_formed() and self.is_finite()


@dataclass(frozen=True)
class PoseEstimate:
    """Pose of the IMU/body frame in the odometry frame, with velocities and covariances.

    Attributes:
        stamp_ns: the sensor stamp this pose belongs to.
        position_xyz: (3,) metres, in odom.
        quat_wxyz: (4,) orientation of body in odom.
        linear_velocity_xyz: (3,) m/s in the body frame (REP-105 twist in child frame).
        angular_velocity_xyz: (3,) rad/s in the body frame.
        pose_covariance: (6, 6) in REP-103 order (x, y, z, roll, pitch, yaw rotation about fixed axes).
        twist_covariance: (6, 6), same order.
    """

    stamp_ns: int
    position_xyz: np.ndarray
    quat_wxyz: np.ndarray
    linear_velocity_xyz: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity_xyz: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pose_covariance: np.ndarray = field(default_factory=lambda: np.eye(6) * 1e-2)
    twist_covariance: np.ndarray = field(default_factory=lambda: np.eye(6) * 1e-2)
