import sys, json, numpy as np
from arvr_hybrid_vio.tools import bench_estimator as eb
from arvr_hybrid_vio.nodes.vio_node_config import load_node_configs
from arvr_hybrid_vio.core.collector import collector_paused
import dataclasses, arvr_hybrid_vio
configs = load_node_configs("/work/main/config/vio_synthetic.yaml")
seq = eb.synthetic_sequence(duration_s=20.0, seed=0)
with collector_paused():
    est = eb.estimator_from("/work/main/models/hybrid.safetensors", dataclasses.replace(configs.estimator, cuda_graph=False))
    b = eb.bench_estimator(est, seq, sync_config=configs.sync, warmup=30, network_iterations=50, paced=False)
s=b.step_ms; i=b.imu_ms
print(json.dumps({"pkg": arvr_hybrid_vio.__file__, "step_p50": float(np.percentile(s,50)), "step_p99": float(np.percentile(s,99)), "step_mean": float(s.mean()), "imu_p50_us": float(np.percentile(i,50))*1e3, "imu_mean_us": float(i.mean())*1e3}))
