"""Refined fusion grid on the VALIDATION split, per sequence (hybrid)."""
import sys
import torch
from arvr_hybrid_vio.core.dataset import load_shard, list_shards
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.training.replay import ground_truth, run_estimator, shard_frames
torch.set_num_threads(1)
shards = [load_shard(p) for p in list_shards("data_out/dataset", "val")]
for walk, scale in [(0.01, 1.0), (0.02, 1.0), (0.03, 1.0), (0.01, 0.3), (0.003, 1.0)]:
    config = EstimatorConfig(device="cpu", velocity_random_walk=walk, velocity_measurement_scale=scale)
    out = []
    for shard in shards:
        est = VioEstimator.from_file(f"models/{sys.argv[1]}.safetensors", config)
        rep = evaluate(ground_truth(shard), run_estimator(est, shard_frames(shard)), EvalConfig()).to_dict()
        out.append(f"ATE {100*rep['ate_rmse_m']:.2f} RPE {100*rep['rpe_trans_rmse_m']:.2f} cm {rep['rpe_rot_rmse_deg']:.3f} deg")
    print(f"walk {walk} scale {scale}: " + " | ".join(out), flush=True)
