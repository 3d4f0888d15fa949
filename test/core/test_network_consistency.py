"""The network-vs-window consistency: no inflation while the two agree within their variances,
inflation by the NIS mean over 3 when the network is confidently wrong, and its use in the estimator."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.model.motion_source import RelativeMotion
from arvr_hybrid_vio.core.network_consistency import EXPECTED_NIS, NetworkConsistency
from arvr_hybrid_vio.core.strapdown import NavState, Preintegration
from arvr_hybrid_vio.core.visual_velocity import VelocityMeasurement

SOLVE_S = 2 / 30  # a window solve every 2nd frame at 30 Hz


def feed(consistency: NetworkConsistency, rng: np.random.Generator, *, network_sigma: float, bias: np.ndarray,
         seconds: float) -> None:
    """Pairs whose true errors are N(bias, network_sigma^2) and N(0, 0.02^2) while both claim 0.02 m/s."""
    claimed = np.eye(3) * 0.02 ** 2
    for _ in range(int(seconds / SOLVE_S)):
        network = bias + rng.normal(0.0, network_sigma, 3)
        window = rng.normal(0.0, 0.02, 3)
        consistency.observe(network, claimed, window, claimed, seconds_per_solve=SOLVE_S)


def test_consistent_measurements_leave_the_variance_alone() -> None:
    consistency = NetworkConsistency(time_constant_s=4.0)
    feed(consistency, np.random.default_rng(0), network_sigma=0.02, bias=np.zeros(3), seconds=60.0)
    assert consistency.mean_nis == pytest.approx(EXPECTED_NIS, rel=0.5)
    assert consistency.inflation() < 1.6


def test_a_confidently_wrong_network_is_inflated_within_a_few_time_constants_and_reset_forgets() -> None:
    consistency = NetworkConsistency(time_constant_s=4.0)
    # the network says 0.02 m/s but is 0.2 m/s off: NIS ~ 0.2^2 * 3 / (2 * 0.02^2) = 150
    feed(consistency, np.random.default_rng(1), network_sigma=0.02, bias=np.full(3, 0.2 / np.sqrt(3)), seconds=1.0)
    early = consistency.inflation()
    feed(consistency, np.random.default_rng(2), network_sigma=0.02, bias=np.full(3, 0.2 / np.sqrt(3)), seconds=15.0)
    assert 1.0 < early < consistency.inflation()
    # E[NIS] = |bias|^2 / (2 sigma^2) + 3
    assert consistency.inflation() == pytest.approx(0.2 ** 2 / (2 * 0.02 ** 2) / EXPECTED_NIS + 1.0, rel=0.3)
    consistency.reset()
    assert consistency.inflation() == 1.0


def test_off_never_inflates() -> None:
    consistency = NetworkConsistency(time_constant_s=0.0)
    feed(consistency, np.random.default_rng(3), network_sigma=0.5, bias=np.ones(3), seconds=10.0)
    assert consistency.inflation() == 1.0 and consistency.mean_nis == EXPECTED_NIS


def test_the_estimator_refuses_a_negative_time_constant() -> None:
    with pytest.raises(ConfigError, match="network_consistency_s"):
        VioEstimator.from_file("imu-only", replace(EstimatorConfig(device="cpu"), network_consistency_s=-1.0))


def fused_after(seconds: float, *, time_constant_s: float) -> np.ndarray:
    """The estimator's fused velocity after ``seconds`` of frames in which the network says 0 m/s with
    sigma 2 cm/s and the camera window says 0.3 m/s forward with sigma 2 cm/s (the network shrunk and
    confidently wrong, as on the real motions)."""
    estimator = VioEstimator.from_file("imu-only", replace(EstimatorConfig(device="cpu"),
                                                          network_consistency_s=time_constant_s))
    state = NavState(0, np.eye(3), np.zeros(3), np.zeros(3))
    pre = Preintegration(1 / 30, np.eye(3), np.zeros(3), np.zeros(3))
    network = RelativeMotion(np.eye(3), np.zeros(3), np.zeros(3), velocity_body=np.zeros(3), velocity_var=0.02 ** 2)
    window = VelocityMeasurement(np.array([0.3, 0.0, 0.0]), np.eye(3) * 0.02 ** 2, 40, np.zeros(3))
    velocity = np.zeros(3)
    for _ in range(int(seconds * 30)):
        velocity = estimator._fused_velocity(state, pre, network, window)
        state = NavState(0, np.eye(3), np.zeros(3), velocity)
    return velocity


def test_the_fused_velocity_follows_the_window_once_the_network_proves_inconsistent() -> None:
    without, with_it = fused_after(10.0, time_constant_s=0.0), fused_after(10.0, time_constant_s=4.0)
    assert without[0] == pytest.approx(0.15, abs=0.01)  # two equal variances: half way
    assert with_it[0] > 0.28  # the network's variance inflated ~ (0.3^2 / (2 * 0.02^2)) / 3 ~ 37x
    assert np.allclose(with_it[1:], 0.0) and np.allclose(without[1:], 0.0)
