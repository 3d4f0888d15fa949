"""Step latency of the estimator (tracks + network step + composition) per model, batch 1, CPU, 1 thread."""
import sys, time
import numpy as np, torch
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.training.replay import shard_frames
torch.set_num_threads(1)
shard = load_shard("data_out/dataset/val/val_00_head.npz")
frames = [f for _, f in zip(range(int(sys.argv[2]) if len(sys.argv) > 2 else 400), shard_frames(shard))]
for model in sys.argv[1].split(","):
    path = model if model == "imu-only" else f"models/{model}.safetensors"
    est = VioEstimator.from_file(path, EstimatorConfig(device="cpu"))
    times = []
    for frame in frames:
        t0 = time.perf_counter(); est.step(frame); times.append(time.perf_counter() - t0)
    ms = np.array(times[60:]) * 1e3  # after initialisation and warm-up
    print(f"{model:12s} estimator.step p50 {np.percentile(ms, 50):.2f} ms  p99 {np.percentile(ms, 99):.2f} ms  (n={len(ms)})")
