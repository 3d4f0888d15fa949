"""Scratch: node e2e (frame complete -> Odometry published) split by whether the frame's image stamp
coincides with an IMU stamp (then the frame completes when the image arrives, and its tracking at
arrival is on the latency path) or falls between samples (the completing sample comes later)."""
import sys, time, json
from pathlib import Path
import numpy as np
import rclpy
from arvr_hybrid_vio.core.collector import collector_paused
from arvr_hybrid_vio.tools import bench_estimator as eb, bench_node, bench_streams
rclpy.init(args=[])
work = Path("/tmp/prof/e2e_split"); work.mkdir(exist_ok=True)
node = bench_node.NodeProcess(model="/work/main/models/hybrid.safetensors", config=Path("/work/main/config/vio_synthetic.yaml"),
                              device="auto", log_path=work / "node.log")
out = {}
try:
    with collector_paused():
        session = bench_node.Session(node)
    session.wait_connected()
    seq = eb.synthetic_sequence(duration_s=20.0, seed=0)
    shift = 0
    for lap in range(2):
        run = bench_streams.run_stream(session, seq, name="s", shift_ns=shift)
        shift += int(seq.imu_stamps_ns[-1] - seq.imu_stamps_ns[0]) + 2_000_000_000
        pub = run.published
        answers = np.array([session.client.inbox.odometry.get(int(s), (np.nan, np.nan)) for s in pub.image_stamps_ns])
        got = np.isfinite(answers[:, 0])
        aligned = np.isin(pub.image_stamps_ns, pub.imu_stamps_ns)[got]
        e2e = run.e2e_ms
        wait_imu = (pub.frame_complete_times() - pub.image_times)[got] * 1e3
        for name, sel in (("aligned", aligned), ("between", ~aligned)):
            x = e2e[sel]
            print(f"lap {lap} {name:8s} n={sel.sum():4d} e2e p50 {np.percentile(x,50):6.2f} p90 {np.percentile(x,90):6.2f} p99 {np.percentile(x,99):6.2f} ms; image->complete p50 {np.percentile(wait_imu[sel],50):5.2f} ms")
        print(f"lap {lap} all      n={len(e2e):4d} e2e p50 {np.percentile(e2e,50):6.2f} p99 {np.percentile(e2e,99):6.2f}")
finally:
    if 'session' in dir():
        session.close()
    node.stop()
