"""Scratch diagnostic: can the window see the estimate's rotation error? After each window solve, fit each
solved frame's small camera rotation (world) against the solve's landmarks and camera centres, and compare the
slope over the window with the true error's slope (truth aligned to the estimate at the window's first frame)."""
import sys
from pathlib import Path
import numpy as np
from arvr_hybrid_vio.core import visual_velocity as vv_module
from arvr_hybrid_vio.core.dataset import load_shard
from arvr_hybrid_vio.core.estimator import EstimatorConfig, VioEstimator
from arvr_hybrid_vio.core.geometry import quat_wxyz_to_matrix, so3_log
from arvr_hybrid_vio.core.training.replay import shard_frames
from arvr_hybrid_vio.core.window_velocity import _usable

RESULTS = []
CURRENT = {}


def landmarks_for(frame, feature, xy, rot_cam, centres):
    count = int(feature.max()) + 1
    H = np.zeros((count, 3, 3)); b = np.zeros((count, 3))
    for k in range(len(frame)):
        R = rot_cam[frame[k]]
        rows = np.stack([R[:, 0] - xy[k, 0] * R[:, 2], R[:, 1] - xy[k, 1] * R[:, 2]])  # (2, 3) world
        M = rows.T @ rows
        H[feature[k]] += M; b[feature[k]] += M @ centres[frame[k]]
    ok = np.linalg.det(H) > 1e-12
    L = np.zeros((count, 3)); L[ok] = np.linalg.solve(H[ok], b[ok][:, :, None])[:, :, 0]
    return L, ok


def rotation_fits(frame, feature, xy, rot_cam, centres, L, ok, n_frames):
    phis = np.full((n_frames, 3), np.nan)
    for i in range(n_frames):
        sel = (frame == i) & ok[feature]
        if sel.sum() < 8:
            continue
        J, r = [], []
        for k in np.nonzero(sel)[0]:
            R = rot_cam[i]; d = L[feature[k]] - centres[i]
            q = R.T @ d
            if q[2] < 0.1:
                continue
            x, y = q[0] / q[2], q[1] / q[2]
            skew = np.array([[0, -d[2], d[1]], [d[2], 0, -d[0]], [-d[1], d[0], 0]])
            Jq = np.array([[1, 0, -x], [0, 1, -y]]) / q[2]
            # rotating the camera by exp(phi) in the world: q' = R^T exp(-phi) d ~ q + R^T [d]x phi
            J.append(Jq @ R.T @ skew); r.append(xy[k] - [x, y])
        if len(J) < 8:
            continue
        J = np.concatenate(J); r = np.concatenate(r)
        res = np.abs(r) < 0.04
        phis[i] = np.linalg.lstsq(J[res], r[res], rcond=None)[0]
    return phis


def drift_fit(frame, feature, xy, rot_cam, centres, L, ok, times):
    """omega (world, rad/s): the cameras turned by exp(omega (t - t_mid)), the landmarks free (Schur), one GN step."""
    count = len(ok)
    t_mid = times.mean()
    Hww = np.zeros((3, 3)); bw = np.zeros(3)
    HwL = np.zeros((count, 3, 3)); HLL = np.zeros((count, 3, 3)); bL = np.zeros((count, 3))
    for k in range(len(frame)):
        j = feature[k]
        if not ok[j]:
            continue
        i = frame[k]; R = rot_cam[i]; d = L[j] - centres[i]
        q = R.T @ d
        if q[2] < 0.1:
            continue
        x, y = q[0] / q[2], q[1] / q[2]
        r = xy[k] - [x, y]
        if np.abs(r).max() > 0.04:
            continue
        skew = np.array([[0, -d[2], d[1]], [d[2], 0, -d[0]], [-d[1], d[0], 0]])
        Jq = np.array([[1, 0, -x], [0, 1, -y]]) / q[2]
        A = Jq @ R.T @ skew * (times[i] - t_mid)
        B = Jq @ R.T
        Hww += A.T @ A; bw += A.T @ r
        HwL[j] += A.T @ B; HLL[j] += B.T @ B; bL[j] += B.T @ r
    reduced, rhs = Hww.copy(), bw.copy()
    for j in range(count):
        if np.linalg.det(HLL[j]) > 1e-12:
            inv = np.linalg.inv(HLL[j])
            reduced -= HwL[j] @ inv @ HwL[j].T
            rhs -= HwL[j] @ inv @ bL[j]
    return np.linalg.solve(reduced, rhs)


original_solve = vv_module.VisualVelocity._solve


def traced_solve(self):
    out = original_solve(self)
    if out is None or self.last is None:
        return out
    solution, start = out
    camera, chosen = self._camera, self._solved_frames()
    frames = [self._frames[int(index)] for index in chosen]
    times = np.array([f.time_s for f in frames]) - start.time_s
    rotations = np.stack([f.rotation for f in frames])
    offsets = (np.stack([f.position_xyz for f in frames]) - start.position_xyz
               - times[:, None] * start.velocity_xyz + rotations @ np.asarray(camera.t_imu_camera))
    centres = offsets + times[:, None] * solution.velocity_xyz + 0.5 * times[:, None] ** 2 * solution.acceleration_xyz
    rot_cam = rotations @ camera.rotation
    frame, feature, xy = _usable(self.tracker.observations(chosen), 3)
    if feature.size == 0:
        return out
    L, ok = landmarks_for(frame, feature, xy, rot_cam, centres)
    phis = rotation_fits(frame, feature, xy, rot_cam, centres, L, ok, len(frames))
    omega = drift_fit(frame, feature, xy, rot_cam, centres, L, ok, times)
    newest_time = self._frames[-1].time_s
    RESULTS.append((CURRENT["stamp_ns"], np.array([f.time_s - newest_time for f in frames]), rotations, phis, omega))
    return out


vv_module.VisualVelocity._solve = traced_solve
path = sys.argv[1]
import os
MODE = os.environ.get("MODE", "post")
shard = dict(load_shard(Path(path)))
if len(sys.argv) > 2 and sys.argv[2] == "nobias":
    shard["gyro"] = np.asarray(shard["gyro"]) - np.asarray(shard["gyro_bias"])
est = VioEstimator.from_file("imu-only", EstimatorConfig(device="cpu", visual_velocity=vv_module.VisualVelocityConfig(defer_solve=False)))
frames = list(shard_frames(shard))
for i, f in enumerate(frames):
    CURRENT["stamp_ns"] = f.stamp_ns
    est.step(f, frames[i + 1:i + 64])
gt_stamps = np.asarray(shard["gt_stamps_ns"], dtype=np.int64)
gt_R = quat_wxyz_to_matrix(np.asarray(shard["gt_quats_wxyz"]))
bias = np.asarray(shard["gyro_bias"]).mean(axis=0)
vis_slopes, true_slopes, bias_world = [], [], []
for stamp, rel_t, rotations, phis, omega in RESULTS:
    good = ~np.isnan(phis[:, 0])
    if good.sum() < 5:
        continue
    stamps = stamp + np.round(rel_t * 1e9).astype(np.int64)
    idx = np.clip(np.searchsorted(gt_stamps, stamps), 0, len(gt_stamps) - 1)
    Rt = gt_R[idx]
    align = rotations[0] @ Rt[0].T
    e = np.array([so3_log(align @ Rt[i] @ rotations[i].T) for i in range(len(rotations))])
    t = rel_t - rel_t[0]
    A = np.stack([np.ones(good.sum()), t[good]], axis=1)
    vis_slopes.append(omega if MODE == "joint" else np.linalg.lstsq(A, phis[good], rcond=None)[0][1])
    true_slopes.append(np.linalg.lstsq(A, e[good], rcond=None)[0][1])
    bias_world.append(rotations[-1] @ bias)
vis, tru, bw = map(np.array, (vis_slopes, true_slopes, bias_world))
print(Path(path).stem, "solves", len(vis))
print("  true error slope, mean (world, mrad/s):", np.round(tru.mean(0) * 1e3, 3), " bias in world, mean:", np.round(bw.mean(0) * 1e3, 3))
print("  visual slope, mean:                    ", np.round(vis.mean(0) * 1e3, 3))
for k, axis in enumerate("xyz"):
    c = np.corrcoef(vis[:, k], tru[:, k])[0, 1]
    gain = np.sum(vis[:, k] * tru[:, k]) / np.sum(tru[:, k] ** 2)
    print(f"  axis {axis}: corr {c:.2f}  gain (visual on true) {gain:.2f}  rms true {np.sqrt(np.mean(tru[:, k]**2))*1e3:.2f} visual {np.sqrt(np.mean(vis[:, k]**2))*1e3:.2f} mrad/s")
