"""Umeyama alignment: known transforms, evo agreement, first-N, degenerate input."""
from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import FREIBURG_EST, FREIBURG_GT, make_trajectory

from arvr_hybrid_vio.core.alignment import align_trajectory, umeyama
from arvr_hybrid_vio.core.association import associate
from arvr_hybrid_vio.core.errors import EvaluationError
from arvr_hybrid_vio.core.geometry import so3_exp
from arvr_hybrid_vio.core.trajectory import Trajectory
from arvr_hybrid_vio.core.trajectory_files import read_tum
from evo.core import geometry as evo_geometry  # test-only GPL oracle



@pytest.mark.parametrize("with_scale", [False, True])
def test_recovers_known_transform(with_scale: bool) -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 3))
    rotation, translation = so3_exp(np.array([0.3, -1.2, 2.0])), np.array([1.0, -2.0, 3.0])
    scale = 2.5 if with_scale else 1.0
    alignment = umeyama(points, scale * points @ rotation.T + translation, with_scale=with_scale)
    np.testing.assert_allclose(alignment.rotation, rotation, atol=1e-12)
    np.testing.assert_allclose(alignment.translation, translation, atol=1e-12)
    assert alignment.scale == pytest.approx(scale, rel=1e-12)


@pytest.mark.parametrize("with_scale", [False, True])
def test_freiburg_alignment_equals_evo(with_scale: bool) -> None:
    association = associate(read_tum(FREIBURG_GT), read_tum(FREIBURG_EST))
    est, ref = association.est.positions_xyz, association.ref.positions_xyz
    rotation, translation, scale = evo_geometry.umeyama_alignment(est.T, ref.T, with_scale)
    alignment = umeyama(est, ref, with_scale=with_scale)
    np.testing.assert_allclose(alignment.rotation, rotation, rtol=0, atol=1e-12)
    np.testing.assert_allclose(alignment.translation, translation, rtol=1e-10)
    assert alignment.scale == pytest.approx(scale, rel=1e-12)


def test_first_n_uses_only_the_first_poses() -> None:
    ref = make_trajectory(200)
    est_poses = ref.poses_se3()
    est_poses[100:, :3, 3] += np.array([5.0, 0.0, 0.0])  # corrupt the second half
    est = Trajectory.from_poses_se3(ref.stamps_ns, est_poses)
    alignment, aligned = align_trajectory(est, ref, mode="se3", first_n=100)
    np.testing.assert_allclose(alignment.rotation, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(aligned[:100], ref.poses_se3()[:100], atol=1e-9)
    full, _ = align_trajectory(est, ref, mode="se3")
    assert np.linalg.norm(full.translation) > 1.0


def test_degenerate_and_too_few_points_raise() -> None:
    line = np.stack([np.arange(10.0), np.zeros(10), np.zeros(10)], axis=1)
    with pytest.raises(EvaluationError, match="degenerate"):
        umeyama(line, line + 1.0, with_scale=True)
    with pytest.raises(EvaluationError, match="at least 3"):
        umeyama(line[:2], line[:2], with_scale=False)
    with pytest.raises(EvaluationError, match="unknown alignment"):
        align_trajectory(make_trajectory(5), make_trajectory(5), mode="affine")
