"""Run the real node over DDS with a 1 kHz IMU stream; py-spy records it meanwhile."""
import os, subprocess, sys, time, tempfile
from pathlib import Path
import rclpy
from arvr_hybrid_vio.tools import bench_node, bench_streams, bench_estimator as be
from arvr_hybrid_vio.tools.bench import _default_config
from arvr_hybrid_vio.nodes.vio_node_config import resolve_model_path
os.environ.setdefault("ROS_DOMAIN_ID", "77")
rate = float(sys.argv[1]); out = sys.argv[2]
seq = be.synthetic_sequence(duration_s=20.0, imu_rate_hz=rate)
work = Path(tempfile.mkdtemp())
rclpy.init(args=[])
node = bench_node.NodeProcess(model=str(resolve_model_path(None)), config=_default_config(), device="cpu", log_path=work / "node.log")
session = bench_node.Session(node)
session.wait_connected()
spy = subprocess.Popen(["/tmp/spy/bin/py-spy", "record", "--pid", str(node.pid), "--duration", "19", "--rate", "500",
                        "--format", "raw", "--output", out, "--threads", "--nonblocking"],
                       env={**os.environ, "PYTHONPATH": "/tmp/spy"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
run = bench_streams.run_stream(session, seq, name="x", shift_ns=0)
print("drops", run.drops, "growth ms/s %.3f" % run.e2e_growth_ms_per_s, "e2e p99", __import__("numpy").percentile(run.e2e_ms, 99) if hasattr(run, "e2e_ms") else "")
print(spy.communicate()[1].decode()[-500:])
session.close(); node.stop(); rclpy.try_shutdown()
