"""ATE and RPE agree with evo (test-only GPL oracle) to 1e-6 relative on the real freiburg pair.

evo runs its own pipeline (file reading, association, Umeyama, metrics), as
``evo_ape tum GT EST [-a|-as]`` and ``evo_rpe tum GT EST [-a|-as] -u {m,f} -d D``
with default options do.
"""
from __future__ import annotations

import copy

import pytest
from eval_helpers import FREIBURG_EST, FREIBURG_GT
from evo.core import metrics as evo_metrics
from evo.core import sync as evo_sync
from evo.core.units import Unit
from evo.tools import file_interface

from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.trajectory_files import read_tum

REL = 1e-6
_EVO_UNITS = {"m": Unit.meters, "f": Unit.frames}


def _evo_pair(align: str, first_n: int = -1):  # noqa: ANN202 - evo trajectories
    ref = file_interface.read_tum_trajectory_file(str(FREIBURG_GT))
    est = file_interface.read_tum_trajectory_file(str(FREIBURG_EST))
    ref, est = evo_sync.associate_trajectories(ref, est)  # max_diff 0.01 s
    if align != "none":
        est.align(ref, correct_scale=align == "sim3", n=first_n)
    return ref, est


def _evo_stats(metric, data) -> dict:  # noqa: ANN001
    metric.process_data(data)
    return metric.get_all_statistics()


@pytest.fixture(scope="module")
def trajectories():  # noqa: ANN201
    return read_tum(FREIBURG_GT), read_tum(FREIBURG_EST)


@pytest.mark.parametrize("align, first_n", [("se3", 0), ("sim3", 0), ("none", 0), ("se3", 100), ("sim3", 50)])
def test_ate_equals_evo(trajectories, align: str, first_n: int) -> None:
    ref, est = _evo_pair(align, first_n or -1)
    expected = _evo_stats(evo_metrics.APE(evo_metrics.PoseRelation.translation_part), (ref, est))
    report = evaluate(*trajectories, EvalConfig(align=align, align_first_n=first_n)).to_dict()
    assert report["matched_poses"] == ref.num_poses == 785
    for stat in ("rmse", "mean", "median", "max", "min", "std"):
        assert report[f"ate_{stat}_m"] == pytest.approx(expected[stat], rel=REL), stat


def test_sim3_ate_is_the_documented_value(trajectories) -> None:
    report = evaluate(*trajectories, EvalConfig(align="sim3")).to_dict()
    assert round(report["ate_rmse_m"], 6) == 0.013389  # evo_ape tum ... -as


@pytest.mark.parametrize("align", ["se3", "sim3", "none"])
@pytest.mark.parametrize("unit, delta", [("f", 1), ("f", 10), ("f", 50), ("m", 0.05), ("m", 0.2), ("m", 1.0)])
def test_rpe_equals_evo(trajectories, align: str, unit: str, delta: float) -> None:
    ref, est = _evo_pair(align)
    trans = evo_metrics.RPE(evo_metrics.PoseRelation.translation_part, delta, _EVO_UNITS[unit])
    rot = evo_metrics.RPE(evo_metrics.PoseRelation.rotation_angle_deg, delta, _EVO_UNITS[unit])
    expected_trans = _evo_stats(trans, (copy.deepcopy(ref), copy.deepcopy(est)))
    expected_rot = _evo_stats(rot, (ref, est))
    report = evaluate(*trajectories, EvalConfig(align=align, rpe_unit=unit, rpe_delta=delta)).to_dict()
    assert report["rpe_pairs"] == len(trans.error)
    assert report["rpe_trans_rmse_m"] == pytest.approx(expected_trans["rmse"], rel=REL)
    assert report["rpe_trans_mean_m"] == pytest.approx(expected_trans["mean"], rel=REL)
    assert report["rpe_rot_rmse_deg"] == pytest.approx(expected_rot["rmse"], rel=REL)
    assert report["rpe_rot_mean_deg"] == pytest.approx(expected_rot["mean"], rel=REL)
