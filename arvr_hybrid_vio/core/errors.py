"""Named exceptions of the core. Each says what was wrong and what to do."""
from __future__ import annotations


class VioError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(VioError):
    """A configuration file or value is invalid."""


class TrajectoryError(VioError):
    """A trajectory file or array is malformed (NaN rows, wrong columns, non-monotonic stamps)."""


class EvaluationError(VioError):
    """Two trajectories cannot be compared (no overlap, too few matched poses)."""


class ModelFileError(VioError):
    """A model file is missing, truncated, of another format version or of another architecture."""


class SensorDataError(VioError):
    """Sensor data (image, IMU) is malformed."""
