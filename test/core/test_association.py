"""Timestamp association: evo's nearest-stamp rule, vectorised on int64 ns."""
from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import FREIBURG_EST, FREIBURG_GT, make_trajectory

from arvr_hybrid_vio.core.association import associate, matching_indices
from arvr_hybrid_vio.core.errors import EvaluationError
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_tum
from evo.core import sync  # test-only GPL oracle (never imported by the package)


_TICK_NS = 1_953_125  # 1/512 s: exact in binary floating point, so evo's float seconds compare exactly


def _stamps(ticks: np.ndarray) -> Trajectory:
    count = ticks.size
    return Trajectory(ticks.astype(np.int64) * _TICK_NS, np.zeros((count, 3)), np.tile([1.0, 0, 0, 0], (count, 1)))


def test_freiburg_pairs_equal_evo() -> None:
    gt, est = read_tum(FREIBURG_GT), read_tum(FREIBURG_EST)
    association = associate(gt, est)
    # evo iterates over the shorter trajectory (the estimate) and searches the ground truth.
    evo_est, evo_gt = sync.matching_time_indices(est.stamps_ns * 1e-9, gt.stamps_ns * 1e-9, 0.01)
    np.testing.assert_array_equal(association.est_indices, evo_est)
    np.testing.assert_array_equal(association.ref_indices, evo_gt)
    assert len(association) == 785
    np.testing.assert_array_equal(association.ref.positions_xyz, gt.positions_xyz[evo_gt])


@pytest.mark.parametrize("seed", range(6))
def test_random_stamps_with_ties_equal_evo(seed: int) -> None:
    rng = np.random.default_rng(seed)
    short = np.unique(rng.integers(-50, 400, 60))
    long = np.unique(rng.integers(0, 350, 150))
    max_ticks = int(rng.integers(0, 8))
    ours = matching_indices(short * _TICK_NS, long * _TICK_NS, max_ticks * _TICK_NS)
    evo = sync.matching_time_indices(short / 512.0, long / 512.0, max_ticks / 512.0)
    np.testing.assert_array_equal(ours[0], evo[0])
    np.testing.assert_array_equal(ours[1], evo[1])


def test_shorter_trajectory_drives_and_repeats_are_kept() -> None:
    ref = _stamps(np.array([0, 10, 20]))           # shorter: ref drives
    est = _stamps(np.array([1, 2, 3, 4, 11, 40]))
    association = associate(ref, est, max_diff_ns=3 * _TICK_NS)
    np.testing.assert_array_equal(association.ref_indices, [0, 1])
    np.testing.assert_array_equal(association.est_indices, [0, 4])
    est_short = _stamps(np.array([0, 1]))          # one ref pose nearest to both estimates
    association = associate(_stamps(np.array([0, 5, 9])), est_short, max_diff_ns=3 * _TICK_NS)
    np.testing.assert_array_equal(association.ref_indices, [0, 0])
    assert np.all(np.diff(association.ref.stamps_ns) > 0)  # repeats get +1 ns so stamps stay increasing


def test_no_overlap_names_both_sources() -> None:
    gt = make_trajectory(10, source="gt.txt")
    est = make_trajectory(10, start_ns=int(gt.stamps_ns[-1]) + 10**9, source="est.txt")
    with pytest.raises(EvaluationError, match="no matching stamps between gt.txt .* and est.txt .*do not overlap"):
        associate(gt, est)


def test_indexed_trajectories_pair_by_index() -> None:
    trajectory = make_trajectory(5)
    indexed = Trajectory(np.arange(5, dtype=np.int64), trajectory.positions_xyz, trajectory.quats_wxyz,
                         source="poses.txt", indexed=True)
    association = associate(indexed, trajectory)
    np.testing.assert_array_equal(association.est_indices, np.arange(5))
    with pytest.raises(EvaluationError, match="same number of poses"):
        associate(indexed, trajectory.subset(np.arange(4)))
