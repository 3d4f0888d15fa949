"""The compute devices a user can name: ``estimator.device`` and every tool's ``--device``.

``auto`` takes CUDA where torch sees a device and the CPU otherwise (``core.model.learned_motion.
resolve_device``); ``cpu`` and ``cuda`` insist. This module only names them and checks a name, so
configs and command lines can refuse a typo without importing torch.
"""
from __future__ import annotations

from arvr_hybrid_vio.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str, *, setting: str = "device") -> None:
    """Raise ConfigError naming ``setting`` unless ``device`` is one of :data:`DEVICES`."""
    if device not in DEVICES:
        raise ConfigError(f"{setting} must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, got {device!r}")
