import sys, dataclasses, numpy as np
sys.path.insert(0, "/work/main/scripts/studies")
from sensor_variants import synth_config, rig_camera
from arvr_hybrid_vio.core.estimator import IMU_ONLY, EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.evaluation import EvalConfig, evaluate
from arvr_hybrid_vio.core.synth.sequence import generate_sequence
from arvr_hybrid_vio.core.training.replay import run_estimator, synced_frames
from arvr_hybrid_vio.core.trajectory import Trajectory
motion, seed = sys.argv[1], int(sys.argv[2])
for noise in (False, True):
    for rate in (100, 200, 400):
        cfg = synth_config(f"imu={rate}", motion, 30.0)
        cfg = dataclasses.replace(cfg, imu=dataclasses.replace(cfg.imu, noise=noise))
        seq = generate_sequence(cfg, seed)
        truth = Trajectory(seq.imu_stamps_ns, seq.gt_positions_xyz, seq.gt_quats_wxyz, source="gt")
        out = []
        for name, model in (("hybrid", "/work/main/models/hybrid.safetensors"), ("imu-only", IMU_ONLY)):
            est = VioEstimator.from_file(model, EstimatorConfig(device="cpu"))
            tr = run_estimator(est, synced_frames(seq.image_stamps_ns, seq.images, seq.imu_stamps_ns, seq.gyro, seq.accel))
            out.append(f"{name} {100*evaluate(truth, tr, EvalConfig()).to_dict()['ate_rmse_m']:.2f}")
        gb = np.abs(seq.gyro - seq.gyro_true).mean(axis=0)
        print(f"{motion} {seed} noise={noise} imu {rate} Hz: ", "  ".join(out), " mean|gyro err|", np.round(gb, 4), flush=True)
