"""How far the network's velocity is from the camera window's, against what their variances allow.

A network trained on some motions reports a velocity variance that holds on those motions. On
motion unlike them it can be confidently wrong: on the real fr1/xyz, fr2/desk and EuRoC V1_02
motions the networks' velocity was shrunk towards zero and 4-6x overconfident, and it outweighed
the camera window's velocity in the fused estimate. This module is innovation-based adaptive
estimation (Mehra 1972; Mohamed and Schwarz 1999, for INS) on that one pair of measurements: it
keeps a running mean of the normalised innovation squared between the two,

    NIS = d^T (R_network + R_window)^-1 d,   d = v_network - v_window   (world, m/s),

whose expected value is 3 (three degrees of freedom) while both variances are right, and inflates
the network's variance by ``max(1, mean / 3)``. The window keeps its own variance: it is a
geometric solve whose error is calibrated on the validation motions and within ~2x on the real
ones (``scripts/studies/speed_gain.py``), so a disagreement is charged to the network. The mean is
exponential with time constant ``time_constant_s``; each window solve stands for the
``seconds_per_solve`` since the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPECTED_NIS = 3.0  # mean of a chi-square with 3 degrees of freedom


@dataclass
class NetworkConsistency:
    """Running mean of the network-vs-window NIS and the network variance inflation it implies."""

    time_constant_s: float  # of the exponential mean, s (0: off, inflation always 1)
    mean_nis: float = EXPECTED_NIS

    def reset(self) -> None:
        """Start again from the expected value (no inflation)."""
        self.mean_nis = EXPECTED_NIS

    def observe(self, network_velocity: np.ndarray, network_cov: np.ndarray, window_velocity: np.ndarray,
                window_cov: np.ndarray, *, seconds_per_solve: float) -> None:
        """Take one simultaneous pair of velocity measurements (world frame, same instant).

        Shape: velocities (3,), covariances (3, 3).
        """
        if self.time_constant_s <= 0.0:
            return
        innovation = np.asarray(network_velocity, dtype=np.float64) - np.asarray(window_velocity, dtype=np.float64)
        nis = float(innovation @ np.linalg.solve(network_cov + window_cov, innovation))
        if not np.isfinite(nis):
            return
        weight = min(1.0, max(seconds_per_solve, 1e-3) / self.time_constant_s)
        self.mean_nis = (1.0 - weight) * self.mean_nis + weight * nis

    def inflation(self) -> float:
        """The factor (>= 1) for the network's velocity variance."""
        if self.time_constant_s <= 0.0:
            return 1.0
        return max(1.0, self.mean_nis / EXPECTED_NIS)
