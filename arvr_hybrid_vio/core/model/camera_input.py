"""A rig's camera, mapped onto the camera the network was trained with.

The network's visual input is feature tracks in normalised coordinates of its
training camera (:mod:`visual_tracks`): a pinhole of a given image size, mounted
at a given rotation relative to the IMU. A real rig differs in all of these: image
size, focal length, lens distortion and mount. :class:`CameraInput` makes its
tracks comparable:

1. images are resized to the training image size (so the pixel-scale tracking
   settings, corner spacing, window and pyramid, see the scene as in training);
2. tracked pixels are scaled back to the rig image, undistorted and normalised with
   the rig's own intrinsics and distortion (plumb_bob: ``cv2.undistortPoints``, iterated to 1e-10;
   equidistant fisheye: ``cv2.fisheye.undistortPoints``);
3. the bearings are rotated from the rig camera into the training camera's
   orientation (both relative to the IMU) and projected again; points that land
   behind it, or far outside its field of view, are dropped.

Step 3 makes a rig whose camera is tilted or yawed differently look as in training.
A mount far from the training one (``rotation_from_training_deg`` over ~30 deg) leaves
few points in the training camera's view and puts the rest where the network never
saw any: accuracy then degrades, and the estimator says so in the log.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import so3_log

if TYPE_CHECKING:
    from arvr_hybrid_vio.core.model.model_config import ModelConfig

LOGGER = logging.getLogger(__name__)
_TILT = math.radians(10.0)
# R_imu_camera of the shipped models' training camera, row-major: the synthetic rig's optical camera
# looking forward (IMU +x), tilted 10 deg down (core.synth.camera.CameraConfig's default mount).
TRAINING_CAMERA_ROTATION = (0.0, -math.sin(_TILT), math.cos(_TILT),
                            -1.0, 0.0, 0.0,
                            0.0, -math.cos(_TILT), -math.sin(_TILT))
# t_imu_camera of the synthetic rig's camera (CameraConfig's default mount_xyz), m. The network does not
# use it (its tracks are derotated only); the metric velocity solve (core.visual_velocity) does.
TRAINING_CAMERA_TRANSLATION = (0.06, 0.04, 0.01)
MAX_MOUNT_DIFFERENCE_DEG = 30.0  # beyond this the estimator warns that the visual input is off-distribution
_MIN_DEPTH = 0.2  # bearings with z below this (in the training camera) are dropped
_MAX_NORMALISED = 2.0  # |x|, |y| beyond this (~63 deg off axis) are dropped


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera with optional plumb_bob distortion, and its rotation relative to the IMU."""

    width: int  # image width, px
    height: int  # image height, px
    fx: float  # focal length x, px
    fy: float  # focal length y, px
    cx: float  # principal point x, px
    cy: float  # principal point y, px
    distortion: tuple[float, ...] = ()  # coefficients of distortion_model; empty = none
    R_imu_camera: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # row-major 3x3
    # "plumb_bob" (radtan k1, k2, p1, p2[, k3, ...]) or "equidistant" (fisheye k1..k4, as Kalibr and ROS)
    distortion_model: str = "plumb_bob"
    t_imu_camera: tuple[float, ...] = (0.0, 0.0, 0.0)  # camera centre in IMU axes, m

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ConfigError(f"camera: image size must be at least 16x16, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0 and np.isfinite([self.cx, self.cy]).all()):
            raise ConfigError(f"camera: focal lengths must be > 0 and the principal point finite, got "
                              f"fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}")
        sizes = {"plumb_bob": (0, 4, 5, 8), "equidistant": (0, 4)}
        if self.distortion_model not in sizes:
            raise ConfigError(f"camera: distortion model {self.distortion_model!r} not supported "
                              f"(plumb_bob, equidistant)")
        if len(self.distortion) not in sizes[self.distortion_model] or not np.isfinite(self.distortion).all():
            raise ConfigError(f"camera: {self.distortion_model} distortion needs "
                              f"{' or '.join(map(str, sizes[self.distortion_model]))} finite values, "
                              f"got {self.distortion}")
        rotation = self.rotation
        if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) \
                or np.linalg.det(rotation) < 0:
            raise ConfigError(f"camera: R_imu_camera is not a rotation: {self.R_imu_camera}")
        if len(self.t_imu_camera) != 3 or not np.isfinite(self.t_imu_camera).all():
            raise ConfigError(f"camera: t_imu_camera needs 3 finite values, got {self.t_imu_camera}")

    @property
    def rotation(self) -> np.ndarray:
        """R_imu_camera as a (3, 3) matrix (camera axes into IMU axes)."""
        return np.asarray(self.R_imu_camera, dtype=np.float64).reshape(3, 3)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def trained_camera(config: ModelConfig) -> CameraModel:
    """The camera a model was trained with (from its config)."""
    fx, fy, cx, cy = config.intrinsics
    width, height = config.image_size
    return CameraModel(int(width), int(height), fx, fy, cx, cy, (), tuple(config.camera_rotation_imu),
                       t_imu_camera=TRAINING_CAMERA_TRANSLATION)


def scaled_to(camera: CameraModel, width: int, height: int) -> CameraModel:
    """The same camera at another image size (binning or resizing; pixel centres at integers)."""
    if (width, height) == (camera.width, camera.height):
        return camera
    sx, sy = width / camera.width, height / camera.height
    return CameraModel(width, height, camera.fx * sx, camera.fy * sy, (camera.cx + 0.5) * sx - 0.5,
                       (camera.cy + 0.5) * sy - 0.5, camera.distortion, camera.R_imu_camera,
                       camera.distortion_model, camera.t_imu_camera)


def same_camera(a: CameraModel, b: CameraModel, *, tolerance: float = 1e-6) -> bool:
    """Same size, intrinsics and mount (within ``tolerance``, e.g. YAML rounding), neither distorted."""
    return ((a.width, a.height) == (b.width, b.height) and not any(a.distortion) and not any(b.distortion)
            and np.allclose([a.fx, a.fy, a.cx, a.cy], [b.fx, b.fy, b.cx, b.cy], rtol=0.0, atol=tolerance)
            and np.allclose(a.R_imu_camera, b.R_imu_camera, rtol=0.0, atol=tolerance))


def rotation_difference_deg(a: CameraModel, b: CameraModel) -> float:
    """Angle of the rotation between two cameras' mounts, deg."""
    return float(np.degrees(np.linalg.norm(so3_log(a.rotation.T @ b.rotation))))


class CameraInput:
    """Resizes a rig camera's images and maps its track pixels into the training camera."""

    def __init__(self, rig: CameraModel, trained: CameraModel) -> None:
        self.rig = rig
        self.trained = trained
        self.identity = same_camera(rig, trained)  # then the training camera's pinhole is the whole mapping
        self._scale = np.array([rig.width / trained.width, rig.height / trained.height])
        self._R_trained_rig = trained.rotation.T @ rig.rotation
        self.mount_difference_deg = rotation_difference_deg(rig, trained)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image at the training size (area-averaged when shrinking).

        Raises:
            ValueError: the image is not the rig's size.
        """
        if image.shape != (self.rig.height, self.rig.width):
            raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is not the camera's "
                             f"{self.rig.width}x{self.rig.height}")
        if image.shape == (self.trained.height, self.trained.width):
            return image
        shrinking = self.rig.width > self.trained.width
        return cv2.resize(image, (self.trained.width, self.trained.height),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def normalise(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels of a prepared image -> normalised coordinates of the training camera.

        Shape: (N, 2) float -> ((N, 2) float32, (N,) bool valid).
        """
        # prepared pixel centres -> rig pixel centres (pixel centres at integers in both)
        rig_pixels = (pixels + 0.5) * self._scale - 0.5
        undistorted = undistorted_normalised(self.rig, rig_pixels)
        bearings = np.column_stack([undistorted, np.ones(len(undistorted))]) @ self._R_trained_rig.T
        depth = bearings[:, 2]
        valid = depth > _MIN_DEPTH
        normalised = np.zeros((len(bearings), 2))
        normalised[valid] = bearings[valid, :2] / depth[valid, None]
        valid &= np.all(np.abs(normalised) <= _MAX_NORMALISED, axis=1)
        return normalised.astype(np.float32), valid


def undistorted_normalised(camera: CameraModel, pixels: np.ndarray) -> np.ndarray:
    """Pixels of ``camera``'s image -> undistorted normalised coordinates (x/z, y/z) of its own axes.

    Shape: (N, 2) float -> (N, 2) float64.
    """
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if not any(camera.distortion):
        return (pixels - np.array([camera.cx, camera.cy])) / np.array([camera.fx, camera.fy])
    distortion = np.asarray(camera.distortion, dtype=np.float64)
    if camera.distortion_model == "equidistant":
        return cv2.fisheye.undistortPoints(pixels.reshape(-1, 1, 2), camera.matrix, distortion).reshape(-1, 2)
    return cv2.undistortPoints(  # OpenCV's default 5 iterations leave ~1e-3 at the edges
        pixels.reshape(-1, 1, 2), camera.matrix, distortion, None, None, None,
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)).reshape(-1, 2)
