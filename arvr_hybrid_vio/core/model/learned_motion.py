"""The estimator's learned motion source: features -> network step (cached state) -> relative motion.

The network's velocity is a measurement, not the state: a scalar-variance Kalman update
fuses it (variance from the network's own log-variance) with the velocity the IMU
propagated from the previous frame. The network never sees the estimator's velocity,
so its errors cannot feed back into its inputs, and the fused velocity is pulled back
towards the network whenever the IMU drifts.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import so3_exp
from arvr_hybrid_vio.core.model.camera_input import (
    MAX_MOUNT_DIFFERENCE_DEG, CameraInput, CameraModel, scaled_to, trained_camera)
from arvr_hybrid_vio.core.model.inputs import gravity_body, inertial_inputs
from arvr_hybrid_vio.core.model.motion_source import RelativeMotion
from arvr_hybrid_vio.core.model.network import VioNetwork
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics, derotated, extract_tracks
from arvr_hybrid_vio.core.strapdown import NavState, Preintegration
from arvr_hybrid_vio.core.types import SyncedFrame

LOGGER = logging.getLogger(__name__)
INITIAL_VELOCITY_VAR = 0.1 ** 2  # (m/s)^2 after the static initialisation (not always truly static)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises:
        ConfigError: an unknown name, or ``cuda`` without a CUDA device.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)


class LearnedMotion:
    """Relative motion from a trained :class:`VioNetwork`, one streaming step per frame."""

    def __init__(self, network: VioNetwork, *, device: torch.device, gravity_m_s2: float,
                 tilt_correction_per_s: float = 0.2, velocity_random_walk: float = 0.03,
                 measurement_scale: float = 1.0) -> None:
        """Wrap an eval-mode network already on ``device``.

        Args:
            tilt_correction_per_s: rate (1/s) at which roll and pitch are pulled towards the
                accelerometer's gravity direction in calm intervals; 0 disables it.
            velocity_random_walk: growth of the IMU-propagated velocity's std, m/s/sqrt(s).
            measurement_scale: multiplies the network's velocity variance in the update.
        """
        self.network = network.eval()
        self.device = device
        self.gravity_m_s2 = gravity_m_s2
        self.tilt_correction_per_s = tilt_correction_per_s
        self.velocity_random_walk = velocity_random_walk
        self.measurement_scale = measurement_scale
        self.name = network.config.family
        fx, fy, cx, cy = network.config.intrinsics
        self.intrinsics = Intrinsics(fx, fy, cx, cy)
        self.trained_camera = trained_camera(network.config)
        self._rig_camera: CameraModel | None = None  # None: assume the training camera's field of view
        self._camera_input: CameraInput | None = None  # built for the image size in use
        self._weights: np.ndarray | None = None
        self.reset()

    @classmethod
    def from_file(cls, path: Path, *, device: str, torch_threads: int, gravity_m_s2: float,
                  **options: float) -> LearnedMotion:
        """Load a model file (see ``core.model_io``) onto the resolved device."""
        from arvr_hybrid_vio.core.model_io import load_model
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        resolved = resolve_device(device)
        network, _ = load_model(path, device=resolved)
        LOGGER.info("loaded %s model %s on %s", network.config.family, path, resolved)
        return cls(network, device=resolved, gravity_m_s2=gravity_m_s2, **options)

    def reset(self) -> None:
        """Empty the network's temporal state and forget the reference image."""
        self._state = self.network.initial_state(1, self.device)
        self._prev_image: np.ndarray | None = None
        self._weights = None
        self._network_velocity: tuple[np.ndarray, np.ndarray] | None = None
        self._velocity_var = INITIAL_VELOCITY_VAR

    @property
    def rig_camera(self) -> CameraModel | None:
        """The rig camera set with ``set_camera`` (None: the training camera's field of view)."""
        return self._rig_camera

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig's camera (intrinsics, distortion, mount); None assumes the training camera's
        field of view and mount at whatever size the images have."""
        self._rig_camera = camera
        self._camera_input = None

    def _input_for(self, image: np.ndarray) -> CameraInput:
        height, width = image.shape
        current = self._camera_input
        if current is None or (current.rig.width, current.rig.height) != (width, height):
            rig = scaled_to(self._rig_camera or self.trained_camera, width, height)
            current = self._camera_input = CameraInput(rig, self.trained_camera)
            if not current.identity:
                LOGGER.info("camera %dx%d (fx %.1f, fy %.1f%s) mapped onto the training camera %dx%d; "
                            "mount %.1f deg from the training mount", width, height, rig.fx, rig.fy,
                            ", distorted" if rig.distortion else "", self.trained_camera.width,
                            self.trained_camera.height, current.mount_difference_deg)
            if current.mount_difference_deg > MAX_MOUNT_DIFFERENCE_DEG:
                LOGGER.warning("the camera is mounted %.0f deg away from the camera this model was trained "
                               "with: few features map into its view, expect degraded accuracy (retrain "
                               "on data rendered with this mount)", current.mount_difference_deg)
        return current

    def _prepared(self, image: np.ndarray) -> tuple[np.ndarray, CameraInput]:
        camera = self._input_for(image)
        return camera.prepare(image), camera

    def start(self, frame: SyncedFrame) -> None:
        """The first tracked frame's image is the reference for the next step's tracks."""
        self._prev_image = self._prepared(frame.image)[0]

    def relative_motion(self, frame: SyncedFrame, state: NavState, pre: Preintegration) -> RelativeMotion:
        """Network step on this frame's tracks and IMU, decoded into a relative motion."""
        inertial = inertial_inputs(frame.imu_stamps_ns, frame.gyro_rad_s, frame.accel_m_s2,
                                   gravity_body(state.rotation), gravity_m_s2=self.gravity_m_s2)
        image, camera = self._prepared(frame.image)
        prev = image if self._prev_image is None else self._prev_image
        tracks = extract_tracks(prev, image, self.intrinsics, self.network.config.tracks,
                                to_normalised=None if camera.identity else camera.normalise)
        self._prev_image = image
        if self.network.config.derotate_tracks:
            tracks = derotated(tracks, self.network.config.camera_rotation(pre.delta_rotation))
        features = inertial.features
        context = np.array([inertial.motion_magnitude, features[-2], features[-1]])
        with torch.inference_mode():
            out, self._state = self.network.step(
                torch.from_numpy(tracks)[None].to(self.device),
                torch.from_numpy(features.astype(np.float32))[None].to(self.device),
                torch.from_numpy(context.astype(np.float32))[None].to(self.device), self._state)
        values = [t[0].double().cpu().numpy() for t in out[:4]]
        velocity, dtheta, translation_logvar, rotation_logvar = values
        self._weights = None if out.weights is None else out.weights[0].double().cpu().numpy()
        translation_var = np.exp(translation_logvar)
        self._network_velocity = (velocity, np.sqrt(translation_var) / max(pre.dt_s, 1e-3))
        delta_rotation = self._tilt_corrected(state, pre, pre.delta_rotation @ so3_exp(dtheta))
        fused = self._fuse_velocity(state, velocity, float(np.mean(translation_var)), pre.dt_s)
        return RelativeMotion(delta_rotation, state.rotation.T @ fused * pre.dt_s + inertial.dp_gc,
                              np.exp(rotation_logvar), np.full(3, self._velocity_var * pre.dt_s ** 2))

    def _fuse_velocity(self, state: NavState, velocity_body: np.ndarray, displacement_var: float,
                       dt_s: float) -> np.ndarray:
        """Kalman update of the IMU-propagated world velocity with the network's (world) velocity."""
        dt_s = max(dt_s, 1e-3)
        prior_var = self._velocity_var + self.velocity_random_walk ** 2 * dt_s
        measurement_var = self.measurement_scale * displacement_var / dt_s ** 2
        gain = prior_var / (prior_var + measurement_var)
        self._velocity_var = (1.0 - gain) * prior_var
        return state.velocity_xyz + gain * (state.rotation @ velocity_body - state.velocity_xyz)

    def _tilt_corrected(self, state: NavState, pre: Preintegration, delta_rotation: np.ndarray) -> np.ndarray:
        """Nudge roll/pitch towards the interval's mean specific force (world ``R dv / dt`` should point up).

        Applied only in calm intervals (mean specific force within 0.5 m/s^2 of g), as a
        world-frame rotation of the new orientation by ``rate * dt * (m_hat x e_z)``.
        """
        if self.tilt_correction_per_s <= 0.0 or pre.dt_s <= 0.0:
            return delta_rotation
        measured_up = state.rotation @ pre.delta_velocity / pre.dt_s  # (3,) world, m/s^2
        norm = float(np.linalg.norm(measured_up))
        if abs(norm - self.gravity_m_s2) > 0.5:
            return delta_rotation
        correction = so3_exp(self.tilt_correction_per_s * pre.dt_s * np.cross(measured_up / norm, [0.0, 0.0, 1.0]))
        return state.rotation.T @ correction @ state.rotation @ delta_rotation

    @property
    def network_velocity(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last step's network output before fusion: body-frame velocity at the interval start
        (3,) m/s and its std (3,) m/s; None before the first step (for diagnostics)."""
        return self._network_velocity

    @property
    def fusion_weights(self) -> np.ndarray | None:
        """(3,) LSTM/Transformer/multi-scale weights of the last step (hybrid), else None."""
        return self._weights
