"""One node per call: laps at 200 Hz and 1 kHz; prints node CPU s per lap and e2e p50/p99 (over DDS)."""
import os, sys, json, time, tempfile
from pathlib import Path
import numpy as np
import rclpy
from arvr_hybrid_vio.tools import bench_node, bench_streams, bench_estimator as be
from arvr_hybrid_vio.nodes.vio_node_config import resolve_model_path
config = Path(sys.argv[1]); label = sys.argv[2]; out = sys.argv[3]
streams = {"200hz": be.synthetic_sequence(duration_s=20.0, seed=0),
           "1khz": be.synthetic_sequence(duration_s=20.0, imu_rate_hz=1000.0, seed=1)}
work = Path(tempfile.mkdtemp())
rclpy.init(args=[])
node = bench_node.NodeProcess(model=str(resolve_model_path(None)), config=config, device="cpu", log_path=work / "node.log")
session = bench_node.Session(node)
session.wait_connected()
tick = os.sysconf("SC_CLK_TCK")
def cpu_s():
    f = open(f"/proc/{node.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
res = {"label": label, "config": str(config), "utc": time.strftime("%H:%M:%S", time.gmtime()), "load": os.getloadavg()[0]}
shift = 0
for key, seq in streams.items():
    c0 = cpu_s()
    run = bench_streams.run_stream(session, seq, name=key, shift_ns=shift)
    shift += int(seq.imu_stamps_ns[-1] - seq.imu_stamps_ns[0]) + 2_000_000_000
    res[key] = {"cpu_s": round(cpu_s() - c0, 2), "drops": run.drops, "growth": round(run.e2e_growth_ms_per_s, 3),
                "e2e_p50": round(float(np.percentile(run.e2e_ms, 50)), 2), "e2e_p99": round(float(np.percentile(run.e2e_ms, 99)), 2),
                "imu_rate_hz": round(run.imu_rate_output_hz, 1)}
session.close(); node.stop(); rclpy.try_shutdown()
print(json.dumps(res))
with open(out, "a") as f: f.write(json.dumps(res) + "\n")
