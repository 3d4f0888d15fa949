"""How much the window velocity would gain from a perfect orientation (a diagnostic, not a model).

    python scripts/studies/oracle_orientation.py SHARD.npz [SHARD.npz ...] [--model models/hybrid.safetensors]

Replays each shard through the estimator as shipped and again with the estimator's orientation
replaced by the true one after every frame (the first frame's yaw jump happens at rest, and the
ATE is SE(3)-aligned). The gravity compensation and the window's bearings are then exact;
velocity, positions, the network and the window are the estimator's own. Prints ATE / RPE-1s for
both: the gap is what a better orientation (gyro bias, attitude in the estimator's state) could buy.
"""
from pathlib import Path

import numpy as np

from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
from arvr_hybrid_vio.core.strapdown import NavState
from study_arguments import parse_study_arguments


def with_true_orientation(estimator: VioEstimator, shard: dict) -> None:
    """Make the estimator's orientation the true one after every frame (in place): its gravity
    compensation and the window's bearings are then exact, everything else is the estimator's."""
    stamps = np.asarray(shard["gt_stamps_ns"])
    truth = quat_wxyz_to_matrix(np.asarray(shard["gt_quats_wxyz"]))
    own_compose = estimator._compose

    def compose(state, pre, motion, start_velocity, stamp_ns, **keywords):
        own_compose(state, pre, motion, start_velocity, stamp_ns, **keywords)
        nav = estimator._nav
        true = truth[min(int(np.searchsorted(stamps, stamp_ns)), len(stamps) - 1)]
        estimator._nav = NavState(nav.stamp_ns, true, nav.position_xyz, nav.velocity_xyz)

    estimator._compose = compose


def main() -> None:
    args = parse_study_arguments(__doc__)
    for path in args.shards:
        shard = load_shard(Path(path))
        scores = []
        for oracle in (False, True):
            estimator = VioEstimator.from_file(args.model, EstimatorConfig(device="cpu", torch_threads=1))
            if oracle:
                with_true_orientation(estimator, shard)
            report = evaluate(ground_truth(shard), run_estimator(estimator, shard_frames(shard)),
                              EvalConfig(align="se3", rpe_delta=1.0, rpe_unit="s"))
            scores.append((100 * report.ate.stats.rmse, 100 * report.rpe.trans.rmse))
        print(f"{Path(path).stem:18s} shipped ATE {scores[0][0]:6.2f} cm RPE-1s {scores[0][1]:5.2f} cm | "
              f"true orientation in the window: ATE {scores[1][0]:6.2f} cm RPE-1s {scores[1][1]:5.2f} cm")


if __name__ == "__main__":
    main()
