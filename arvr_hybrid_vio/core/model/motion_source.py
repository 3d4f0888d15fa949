"""Where the estimator's per-frame relative motion comes from: strapdown or a learned network.

A motion source turns one synced frame (image + the IMU samples since the last
frame) and the estimator's current state into a :class:`RelativeMotion`: the body
rotation and translation from the previous frame to this one, in the body frame of
the previous frame, with variances. The estimator composes them; the node, offline
inference and the tests all go through the same estimator.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from arvr_hybrid_vio.core.strapdown import (
    GRAVITY_M_S2, NavState, Preintegration, SpecificForceMean, displacement_at_rest, gated_tilt_corrected,
)
from arvr_hybrid_vio.core.types import SyncedFrame

LOOKAHEAD_FRAMES = 64  # at most this many frames (the current one included) are passed as ``upcoming``


@dataclass(frozen=True)
class RelativeMotion:
    """Motion of the body between two frames, in the body frame of the first.

    The translation is split where the estimator's velocity enters: the body moves by
    ``R_prev^T v dt + displacement_at_rest``, with ``v`` the world velocity at the first frame, which
    the estimator fuses (IMU propagation, the source's ``velocity_body`` when it has one, the camera's
    window velocity).
    """

    delta_rotation: np.ndarray  # (3, 3) R_prev_curr
    displacement_at_rest: np.ndarray  # (3,) where curr would be, in prev's body frame, with zero start velocity, m
    rotation_var: np.ndarray  # (3,) variance of the rotation error (so(3), rad^2)
    velocity_body: np.ndarray | None = None  # (3,) the source's measurement of the start velocity, body, m/s
    velocity_var: float = 0.0  # its variance per axis, (m/s)^2


class MotionSource(Protocol):
    """A stateful producer of relative motions, one call per tracked frame."""

    name: str  # "imu-only" or the model family ("hybrid", "multihead", ...)
    measures_velocity: bool  # its relative motions carry ``velocity_body`` (a measurement the estimator fuses)

    def reset(self) -> None:
        """Forget all temporal state (after a reset or a long gap)."""

    def start(self, frame: SyncedFrame) -> None:
        """Remember the frame that tracking starts from (its image is the first reference)."""

    def set_camera(self, camera: Any) -> None:
        """The rig's camera model (``camera_input.CameraModel``; None: the training camera's)."""

    def relative_motion(self, frame: SyncedFrame, state: NavState, pre: Preintegration,
                        upcoming: Sequence[SyncedFrame] = (), *,
                        acceleration_xyz: np.ndarray | None = None) -> RelativeMotion:
        """Relative motion from ``state`` (the previous frame) to ``frame``; ``upcoming``: the frames
        expected next, in order (offline replay), which a source may prepare ahead; ``acceleration_xyz``:
        the estimator's world acceleration (m/s^2, None: unknown), which the orientation's accelerometer
        pull subtracts from the specific force (``core.strapdown.tilt_corrected``)."""

    def prepare_image(self, stamp_ns: int, image: np.ndarray) -> None:
        """The image of a frame that still waits for its IMU (live): visual work a source may do now,
        so that the frame's step finds it done."""

    def prepare_reference(self) -> None:
        """Live, once the last frame's pose is out: visual work on that frame that the next image's
        tracking would otherwise do at its arrival."""

    def preintegration_ahead(self, frame: SyncedFrame) -> Preintegration | None:
        """The frame's IMU preintegration when the source already computed it (a frame evaluated
        ahead), so the estimator need not compute it again; else None."""

    @property
    def counters(self) -> dict[str, int]:
        """The source's own counters (for diagnostics); empty when it has none."""

    @property
    def fusion_weights(self) -> np.ndarray | None:
        """Stream weights of the last step ((3,) for the hybrid), None when not applicable."""


@dataclass
class StrapdownMotion:
    """IMU-only baseline: the relative motion is the strapdown prediction.

    The rotation variance grows with the gyro noise density (white noise only): a lower bound.
    The velocity's uncertainty is the estimator's (``EstimatorConfig.velocity_random_walk``).
    """

    gravity_m_s2: float = GRAVITY_M_S2  # gravity magnitude, m/s^2
    gyro_noise_density: float = 1.7e-4  # rad/s/sqrt(Hz)
    # roll/pitch pull towards the accelerometer in calm intervals, 1/s (0: pure strapdown); the
    # estimator gives it the learned sources' rate, so that the baselines differ by the learning only
    tilt_correction_per_s: float = 0.0
    # the pull is skipped while the specific force's 1 s mean leans more than this, deg (0: never)
    tilt_gate_deg: float = 0.0
    name: str = "imu-only"
    measures_velocity: bool = False  # strapdown only integrates
    _force_mean: SpecificForceMean = field(default_factory=SpecificForceMean, repr=False)

    def reset(self) -> None:
        """Forget the specific force's mean."""
        self._force_mean = SpecificForceMean()

    def start(self, frame: SyncedFrame) -> None:
        """Nothing to remember: strapdown does not look at images."""
        del frame

    def set_camera(self, camera: Any) -> None:
        """Strapdown does not look at images."""
        del camera

    def prepare_image(self, stamp_ns: int, image: np.ndarray) -> None:
        """Strapdown does not look at images."""
        del stamp_ns, image

    def prepare_reference(self) -> None:
        """Strapdown does not look at images."""

    def preintegration_ahead(self, frame: SyncedFrame) -> Preintegration | None:
        """Strapdown evaluates nothing ahead."""
        del frame

    @property
    def counters(self) -> dict[str, int]:
        """None."""
        return {}

    def relative_motion(self, frame: SyncedFrame, state: NavState, pre: Preintegration,
                        upcoming: Sequence[SyncedFrame] = (), *,
                        acceleration_xyz: np.ndarray | None = None) -> RelativeMotion:
        """Strapdown prediction over the frame interval (nothing to prepare ahead, no velocity measured)."""
        del frame, upcoming
        at_rest = displacement_at_rest(state.rotation, pre, gravity_m_s2=self.gravity_m_s2)
        rotation, self._force_mean = gated_tilt_corrected(
            state.rotation, pre, pre.delta_rotation, self._force_mean, rate_per_s=self.tilt_correction_per_s,
            max_lean_deg=self.tilt_gate_deg, gravity_m_s2=self.gravity_m_s2, acceleration_xyz=acceleration_xyz)
        return RelativeMotion(rotation, at_rest, np.full(3, self.gyro_noise_density ** 2 * pre.dt_s))

    @property
    def fusion_weights(self) -> np.ndarray | None:
        """No streams to fuse."""
        return None
