"""Camera photometry: exposure/brightness changes, vignetting, shot and read noise, motion blur.

``DN = clip(round(gain(t) * brightness_dn * vignette * radiance + noise), 0, 255)`` with
``gain(t)`` a slow random process plus a few smooth auto-exposure steps, and noise
``N(0, read^2 + shot_gain * DN)``. Motion blur averages ``blur_samples`` renders
spread over the exposure time (done by the caller with ``subexposure_offsets``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.synth.presets import smoothstep7


@dataclass(frozen=True)
class PhotometricConfig:
    """Exposure, noise and blur of the camera."""

    brightness_dn: float = 260.0  # grey level of radiance 1 at gain 1, DN
    gain_variation: float = 0.2  # amplitude of slow relative brightness changes
    exposure_steps_per_min: float = 4.0  # mean rate of auto-exposure steps
    exposure_step: float = 0.25  # max relative size of one step
    vignetting: float = 0.25  # relative brightness loss in the image corners
    read_noise_dn: float = 1.5  # read noise std, DN
    shot_noise_gain: float = 0.04  # shot-noise variance per DN of signal
    blur_samples: int = 1  # sub-exposures averaged for motion blur (1: no blur)
    exposure_time_s: float = 0.01  # exposure duration for motion blur, s

    def validate(self) -> None:
        """Raise ConfigError for impossible values."""
        if self.blur_samples < 1 or self.exposure_time_s < 0.0:
            raise ConfigError("blur_samples must be >= 1 and exposure_time_s >= 0")
        if min(self.read_noise_dn, self.shot_noise_gain, self.gain_variation, self.vignetting) < 0.0:
            raise ConfigError("photometric noise and variation values must be >= 0")


class PhotometricModel:
    """Turns radiance images into noisy mono8 frames with time-varying exposure."""

    def __init__(self, config: PhotometricConfig, image_hw: tuple[int, int], duration_s: float,
                 rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        height, width = image_hw
        v, u = np.mgrid[0:height, 0:width]
        r2 = ((u - (width - 1) / 2) ** 2 + (v - (height - 1) / 2) ** 2) / (((width - 1) / 2) ** 2 + ((height - 1) / 2) ** 2)
        self.vignette = (1.0 - config.vignetting * r2).astype(np.float32)
        self.freqs = rng.uniform(0.03, 0.3, 3)
        self.phases = rng.uniform(0.0, 2 * np.pi, 3)
        count = rng.poisson(config.exposure_steps_per_min * duration_s / 60.0)
        self.step_times = rng.uniform(0.0, max(duration_s, 1e-3), count)
        self.step_sizes = rng.uniform(-config.exposure_step, config.exposure_step, count)

    def gain(self, time_s: float) -> float:
        """Relative exposure gain at ``time_s`` (1 on average)."""
        slow = np.sum(np.sin(2 * np.pi * self.freqs * time_s + self.phases)) / np.sqrt(3.0)
        steps = np.sum(self.step_sizes * smoothstep7((time_s - self.step_times) / 0.3))
        return float(np.clip((1.0 + self.config.gain_variation * slow) * (1.0 + steps), 0.4, 1.8))

    def subexposure_offsets(self) -> np.ndarray:
        """Times (s) relative to the frame time at which to render and average."""
        count = self.config.blur_samples
        if count == 1:
            return np.zeros(1)
        return (np.arange(count) / (count - 1) - 0.5) * self.config.exposure_time_s

    def expose(self, radiance: np.ndarray, time_s: float) -> np.ndarray:
        """Mono8 frame of a radiance image. Shape: (H, W) -> (H, W) uint8."""
        signal = self.gain(time_s) * self.config.brightness_dn * self.vignette * radiance
        std = np.sqrt(self.config.read_noise_dn ** 2 + self.config.shot_noise_gain * np.maximum(signal, 0.0))
        noisy = signal + std * self.rng.standard_normal(signal.shape, dtype=np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
