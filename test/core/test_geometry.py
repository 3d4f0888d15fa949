"""The closed forms of core.geometry (single rotations, batch so3_exp) agree with scipy; scipy loads lazily."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import subprocess
import sys

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix, so3_exp, so3_log


def rotation_vectors() -> np.ndarray:
    rng = np.random.default_rng(3)
    axes = rng.normal(size=(400, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi, 300), [0.0, 1e-9, 1e-7, 1e-4, np.pi - 1e-9, np.pi],
                             rng.uniform(np.pi - 1e-3, np.pi, 94)])
    return axes * angles[:, None]


def test_single_so3_exp_equals_scipy():
    rotvecs = rotation_vectors()
    batch = so3_exp(rotvecs)  # Rodrigues on arrays
    np.testing.assert_allclose(batch, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-14)
    assert so3_exp(np.zeros((0, 3))).shape == (0, 3, 3)
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


def test_single_so3_log_equals_scipy_angle_in_0_pi():
    rotvecs = rotation_vectors()
    for rotvec in rotvecs:
        matrix = Rotation.from_rotvec(rotvec).as_matrix()
        expected = Rotation.from_matrix(matrix).as_rotvec()
        single = so3_log(matrix)
        assert single.shape == (3,) and so3_log(matrix[None]).shape == (1, 3)
        angle = np.linalg.norm(expected)
        assert abs(np.linalg.norm(single) - angle) < 1e-12
        if angle > np.pi - 1e-6:  # at pi, v and -v are the same rotation: either sign is right
            single = single if np.dot(single, expected) >= 0 else -single
        np.testing.assert_allclose(single, expected, atol=1e-12)
        np.testing.assert_allclose(so3_exp(single), matrix, atol=1e-12)
    np.testing.assert_allclose(so3_log(so3_exp(rotvecs)), Rotation.from_rotvec(rotvecs).as_rotvec(), atol=1e-9)


def test_single_quat_to_matrix_normalises_like_scipy():
    quats = np.random.default_rng(5).normal(size=(200, 4)) * 3.0
    for quat in quats:
        expected = Rotation.from_quat(np.r_[quat[1:], quat[:1]]).as_matrix()
        np.testing.assert_allclose(quat_wxyz_to_matrix(quat), expected, atol=1e-13)
    with pytest.raises(ValueError, match="zero norm"):
        quat_wxyz_to_matrix(np.zeros(4))


def test_estimator_and_infer_do_not_import_scipy():
    """scipy.spatial costs 0.15 s of start-up; nothing on the path from a bag to poses needs it."""
    code = ("import sys, numpy as np; import arvr_hybrid_vio.tools.infer; "
            "from arvr_hybrid_vio.core.geometry import so3_exp, so3_log, matrix_to_quat_wxyz, quat_wxyz_to_matrix; "
            "from arvr_hybrid_vio.core.strapdown import gravity_aligned_rotation, preintegrate; "
            "r = so3_exp(np.array([0.1, 0.2, 0.3])); so3_log(r); quat_wxyz_to_matrix(matrix_to_quat_wxyz(r)); "
            "gravity_aligned_rotation(np.array([0.5, 0.2, 9.7])); "
            "preintegrate(np.arange(5) * 5_000_000, np.full((5, 3), 0.1), np.full((5, 3), 9.8)); "
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
