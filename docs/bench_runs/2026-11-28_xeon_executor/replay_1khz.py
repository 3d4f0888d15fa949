"""VioEstimator.step in node order (prepare_image on arrival, propagate_imu for every sample, finish_frame after),
20 s at 1 kHz IMU, second lap timed; prints step p50/p99 and a hash of every pose and IMU-rate pose."""
import dataclasses, hashlib, sys, time
import numpy as np
from arvr_hybrid_vio.tools import bench_estimator as be
from arvr_hybrid_vio.tools.bench import _default_config
from arvr_hybrid_vio.nodes.vio_node_config import load_node_configs, resolve_model_path
from arvr_hybrid_vio.core.sync_buffer import SyncBuffer
configs = load_node_configs(_default_config())
est = be.estimator_from(resolve_model_path(None), dataclasses.replace(configs.estimator, device="cpu"))
seq = be.synthetic_sequence(duration_s=20.0, imu_rate_hz=1000.0, seed=1)
def run(lap):
    est.reset(); buf = SyncBuffer(configs.sync); shift = be._later(seq, lap); steps = []; h = hashlib.sha256()
    for stamp_ns, kind, index in be.sensor_events(seq):
        stamp_ns += shift
        if kind == be.EVENT_IMAGE:
            if buf.push_image(stamp_ns, seq.images[index]):
                est.prepare_image(stamp_ns + buf.config.time_offset_ns, seq.images[index])
        else:
            buf.push_imu(stamp_ns, seq.gyro[index], seq.accel[index])
        while (frame := buf.pop_synced()) is not None:
            t0 = time.perf_counter(); pose = est.step(frame); dt = time.perf_counter() - t0
            if pose is not None:
                steps.append(dt * 1e3); h.update(pose.position_xyz.tobytes()); h.update(pose.quat_wxyz.tobytes())
            est.finish_frame()
        if kind == be.EVENT_IMU:
            p = est.propagate_imu(stamp_ns, seq.gyro[index], seq.accel[index])
            if p is not None: h.update(p.position_xyz.tobytes()); h.update(p.quat_wxyz.tobytes())
    return np.array(steps), h.hexdigest()[:16]
run(1)
s, digest = run(2)
print(f"{sys.argv[1]} step p50 {np.percentile(s,50):.3f} p99 {np.percentile(s,99):.3f} n {len(s)} poses {digest}", flush=True)
