"""The closed forms of core.geometry (single rotations and batches) agree with scipy; scipy loads lazily."""
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


@pytest.mark.parametrize("near_pi", [False, True])
def test_batches_equal_scipy_and_the_single_forms(near_pi: bool):
    """matrix -> quaternion (Shepperd's four cases, w >= 0), quaternion -> matrix (normalised, as scipy)
    and the rotation vector (angle in [0, pi]) of a batch, against scipy and the single closed forms."""
    rotvecs = rotation_vectors()
    if near_pi:
        rotvecs = rotvecs / np.maximum(np.linalg.norm(rotvecs, axis=1, keepdims=True), 1e-12) * np.pi
    matrices = Rotation.from_rotvec(rotvecs).as_matrix()
    quats = matrix_to_quat_wxyz(matrices)
    expected = Rotation.from_matrix(matrices).as_quat()[:, [3, 0, 1, 2]]
    expected = np.where(expected[:, :1] < 0, -expected, expected)
    at_pi = expected[:, 0] < 1e-9  # w = 0: q and -q are the same rotation, either sign is right
    aligned = np.where((np.sum(quats * expected, axis=1) < 0)[:, None] & at_pi[:, None], -quats, quats)
    np.testing.assert_allclose(aligned, expected, atol=1e-12)
    assert np.all(quats[:, 0] >= 0.0)
    np.testing.assert_allclose(quats, [matrix_to_quat_wxyz(m) for m in matrices], atol=1e-15)
    np.testing.assert_allclose(quat_wxyz_to_matrix(quats), matrices, atol=1e-12)
    rotvecs_back = so3_log(matrices)
    angles = np.linalg.norm(rotvecs_back, axis=1)
    assert np.all(angles <= np.pi + 1e-12)
    np.testing.assert_allclose(angles, np.linalg.norm(Rotation.from_matrix(matrices).as_rotvec(), axis=1), atol=1e-12)
    np.testing.assert_allclose(rotvecs_back, [so3_log(m) for m in matrices], atol=1e-15)
    np.testing.assert_allclose(so3_exp(rotvecs_back), matrices, atol=1e-12)
    # quaternions of any norm and sign, normalised as scipy does
    raw = np.random.default_rng(5).normal(size=(300, 4)) * 3.0
    np.testing.assert_allclose(quat_wxyz_to_matrix(raw), Rotation.from_quat(raw[:, [1, 2, 3, 0]]).as_matrix(), atol=1e-13)
    with pytest.raises(ValueError, match="zero norm"):
        quat_wxyz_to_matrix(np.vstack([raw[:2], np.zeros(4)]))
    assert matrix_to_quat_wxyz(np.zeros((0, 3, 3))).shape == (0, 4) and so3_log(np.zeros((0, 3, 3))).shape == (0, 3)


def test_estimator_infer_and_evaluation_do_not_import_scipy():
    """scipy.spatial costs 0.15-0.27 s of start-up; nothing on the path from a bag to poses, nor the evaluation
    of a trajectory file, needs it."""
    code = ("import sys, numpy as np; import arvr_hybrid_vio.tools.infer; import arvr_hybrid_vio.tools.eval_cli; "
            "from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate; "
            "from arvr_hybrid_vio.core.trajectory import Trajectory; "
            "t = np.arange(400) * 10_000_000; p = np.c_[np.sin(t * 1e-9), np.cos(t * 1e-9), t * 1e-10]; "
            "q = np.c_[np.cos(t * 1e-9), np.sin(t * 1e-9), 0.1 * np.ones(400), np.zeros(400)]; "
            "evaluate(Trajectory(t, p, q), Trajectory(t, p + 0.01, q), EvalConfig()); "
            "evaluate(Trajectory(t, p, q), Trajectory(t, p * 1.1, q), EvalConfig(align='sim3')); "
            "from arvr_hybrid_vio.core.geometry import so3_exp, so3_log, matrix_to_quat_wxyz, quat_wxyz_to_matrix; "
            "from arvr_hybrid_vio.core.strapdown import gravity_aligned_rotation, preintegrate; "
            "r = so3_exp(np.array([0.1, 0.2, 0.3])); so3_log(r); quat_wxyz_to_matrix(matrix_to_quat_wxyz(r)); "
            "gravity_aligned_rotation(np.array([0.5, 0.2, 9.7])); "
            "preintegrate(np.arange(5) * 5_000_000, np.full((5, 3), 0.1), np.full((5, 3), 9.8)); "
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
