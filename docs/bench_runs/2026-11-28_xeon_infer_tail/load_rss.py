import os, time, sys
def rss(): return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6
from arvr_hybrid_vio.core.estimator import VioEstimator
from arvr_hybrid_vio.nodes.vio_node_config import load_node_configs
config = load_node_configs('/work/main/config/vio_synthetic.yaml').estimator
r0 = rss(); t = time.perf_counter()
est = VioEstimator.from_file('/work/main/models/hybrid.safetensors', config)
print(f"load {time.perf_counter()-t:.3f} s, RSS +{rss()-r0:.0f} MB, total {rss():.0f} MB")
