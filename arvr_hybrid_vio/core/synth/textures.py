"""Photographic textures for the synthetic room: grey ``skimage.data`` images with a blur stack.

``skimage`` is imported lazily here only: it provides the bundled photographs (no
download); everything else in ``core`` is numpy/scipy. The stack is cached per size.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

PHOTOS = ("brick", "camera", "grass", "gravel", "moon", "coins", "clock", "page", "text", "astronaut",
          "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "cat")
LEVELS = 5  # blur levels: level l ~ mip level l (Gaussian sigma 0.5 * 2^l texels)


def _grey(name: str) -> np.ndarray:
    import skimage.data  # noqa: PLC0415 - lazy: bundled photos only

    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return image / 255.0


def _normalise(image: np.ndarray, size: int) -> np.ndarray:
    """Square-crop, resize to ``size`` and stretch contrast to mean 0.5, std 0.2 (clipped to [0.02, 1])."""
    side = min(image.shape)
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top:top + side, left:left + side]
    if side > size:
        square = gaussian_filter(square, 0.5 * side / size)
    resized = zoom(square, size / side, order=1)[:size, :size]
    std = max(float(resized.std()), 1e-3)
    return np.clip(0.5 + 0.2 * (resized - resized.mean()) / std, 0.02, 1.0)


@functools.lru_cache(maxsize=4)
def texture_stack(size: int = 256) -> np.ndarray:
    """All photos as a blur stack. Shape: -> (LEVELS, len(PHOTOS), size, size) float32 in [0, 1]."""
    base = np.stack([_normalise(_grey(name), size) for name in PHOTOS])
    levels = [base] + [np.stack([gaussian_filter(t, 0.5 * 2 ** level, mode="wrap") for t in base])
                       for level in range(1, LEVELS)]
    stack = np.stack(levels).astype(np.float32)
    stack.setflags(write=False)
    return stack
