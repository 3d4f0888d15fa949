"""Pinhole camera with optional radial-tangential distortion, rigidly mounted on the body.

The camera frame is the REP-103 optical frame: x right, y down, z forward. The body
(IMU) frame is x forward, y left, z up. ``T_body_cam`` maps camera points into the
body frame; the default is a headset-like mount 6 cm ahead of, 4 cm left of and
1 cm above the IMU, looking forward and tilted 10 deg down.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import se3_from_rotation_translation
from arvr_hybrid_vio.core.synth.motion import euler_zyx_to_matrix

R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # optical axes in body


@dataclass(frozen=True)
class CameraConfig:
    """Image size, rate, intrinsics, distortion and mount."""

    width: int = 160  # image width, px
    height: int = 128  # image height, px
    rate_hz: float = 30.0  # frame rate, Hz
    hfov_deg: float = 90.0  # horizontal field of view (sets fx = fy), deg
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)  # radtan k1, k2, p1, p2 (zeros: none)
    mount_xyz: tuple[float, ...] = (0.06, 0.04, 0.01)  # camera origin in the body frame, m
    mount_tilt_deg: float = 10.0  # downward pitch of the camera relative to body forward, deg
    mount_yaw_deg: float = 0.0  # leftward yaw of the camera relative to body forward, deg

    def validate(self) -> None:
        """Raise ConfigError for impossible values."""
        if self.width < 8 or self.height < 8:
            raise ConfigError(f"image size must be at least 8x8, got {self.width}x{self.height}")
        if not self.rate_hz > 0.0:
            raise ConfigError(f"camera rate must be positive, got {self.rate_hz}")
        if not 10.0 <= self.hfov_deg <= 150.0:
            raise ConfigError(f"hfov_deg must be in [10, 150], got {self.hfov_deg}")
        if len(self.distortion) != 4 or len(self.mount_xyz) != 3:
            raise ConfigError("distortion needs 4 values (k1 k2 p1 p2), mount_xyz 3")

    @property
    def focal_px(self) -> float:
        """fx = fy from the horizontal field of view."""
        return 0.5 * self.width / np.tan(np.radians(self.hfov_deg) / 2.0)

    @property
    def principal_point(self) -> tuple[float, float]:
        """(cx, cy) at the image centre (pixel centres at integers)."""
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def intrinsics(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        cx, cy = self.principal_point
        return np.array([[self.focal_px, 0.0, cx], [0.0, self.focal_px, cy], [0.0, 0.0, 1.0]])

    def T_body_cam(self) -> np.ndarray:
        """4x4 transform of the optical frame into the body frame."""
        tilt = euler_zyx_to_matrix(np.radians([[self.mount_yaw_deg, self.mount_tilt_deg, 0.0]]))[0]
        return se3_from_rotation_translation(tilt @ R_BODY_OPTICAL, np.asarray(self.mount_xyz))


def distort(normalized: np.ndarray, coeffs: tuple[float, ...]) -> np.ndarray:
    """Apply radtan distortion to normalised coordinates. Shape: (N, 2) -> (N, 2)."""
    k1, k2, p1, p2 = coeffs
    x, y = normalized[:, 0], normalized[:, 1]
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2 * r2
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def undistort(distorted: np.ndarray, coeffs: tuple[float, ...], *, iterations: int = 20) -> np.ndarray:
    """Invert ``distort`` by fixed-point iteration. Shape: (N, 2) -> (N, 2)."""
    undistorted = distorted.copy()
    for _ in range(iterations):
        undistorted = undistorted + (distorted - distort(undistorted, coeffs))
    return undistorted


def project(config: CameraConfig, points_cam: np.ndarray) -> np.ndarray:
    """Pixels (u, v) of points in the optical frame (z > 0). Shape: (N, 3) -> (N, 2)."""
    normalized = distort(points_cam[:, :2] / points_cam[:, 2:3], config.distortion)
    cx, cy = config.principal_point
    return normalized * config.focal_px + np.array([cx, cy])


def pixel_rays(config: CameraConfig) -> np.ndarray:
    """Optical-frame ray of every pixel centre with z = 1, row-major. Shape: -> (H*W, 3)."""
    cx, cy = config.principal_point
    v, u = np.mgrid[0:config.height, 0:config.width].astype(np.float64)
    distorted = np.stack([(u.ravel() - cx) / config.focal_px, (v.ravel() - cy) / config.focal_px], axis=-1)
    normalized = undistort(distorted, config.distortion) if any(config.distortion) else distorted
    return np.concatenate([normalized, np.ones((len(normalized), 1))], axis=-1)
