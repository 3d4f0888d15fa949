"""The single-rotation fast paths of core.geometry agree with scipy's batch results."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix, so3_exp


def rotation_vectors() -> np.ndarray:
    rng = np.random.default_rng(3)
    axes = rng.normal(size=(400, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi, 300), [0.0, 1e-9, 1e-7, 1e-4, np.pi - 1e-9, np.pi],
                             rng.uniform(np.pi - 1e-3, np.pi, 94)])
    return axes * angles[:, None]


def test_single_so3_exp_equals_scipy():
    rotvecs = rotation_vectors()
    batch = so3_exp(rotvecs)  # scipy path
    np.testing.assert_allclose(batch, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-15)
    for rotvec, expected in zip(rotvecs, batch):
        np.testing.assert_allclose(so3_exp(rotvec), expected, atol=1e-12)
        np.testing.assert_allclose(so3_exp(rotvec[None]), expected[None], atol=1e-12)
    assert so3_exp(np.zeros(3)).shape == (3, 3) and so3_exp(np.zeros((1, 3))).shape == (1, 3, 3)


@pytest.mark.parametrize("near_pi", [False, True])
def test_single_matrix_to_quat_equals_scipy_with_w_non_negative(near_pi: bool):
    rotvecs = rotation_vectors()
    if near_pi:
        rotvecs = rotvecs / np.maximum(np.linalg.norm(rotvecs, axis=1, keepdims=True), 1e-12) * np.pi
    matrices = so3_exp(rotvecs)
    batch = matrix_to_quat_wxyz(matrices)  # scipy path
    for matrix, expected in zip(matrices, batch):
        single = matrix_to_quat_wxyz(matrix)
        assert single[0] >= 0.0 and abs(np.linalg.norm(single) - 1.0) < 1e-14
        if expected[0] < 1e-9:  # w = 0: q and -q are the same rotation, either sign is right
            single = single if np.dot(single, expected) >= 0 else -single
        np.testing.assert_allclose(single, expected, atol=1e-12)
        np.testing.assert_allclose(quat_wxyz_to_matrix(single), matrix, atol=1e-12)
    assert matrix_to_quat_wxyz(np.eye(3)[None]).shape == (1, 4)
