"""A rig camera mapped onto the training camera: geometry exact, tracks comparable, bad calibrations refused."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.geometry import so3_exp
from arvr_hybrid_vio.core.model.camera_input import (
    TRAINING_CAMERA_ROTATION, CameraInput, CameraModel, rotation_difference_deg, scaled_to, trained_camera)
from arvr_hybrid_vio.core.model.inputs import NOMINAL_FRAME_S
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import TRACK_CHANNELS, Intrinsics, derotated, extract_tracks
from arvr_hybrid_vio.core.synth.camera import CameraConfig, distort

TRAINED = trained_camera(ModelConfig())


def rig_camera(*, yaw_deg: float = 12.0, distortion=(-0.28, 0.07, 2e-4, 2e-5)) -> CameraModel:
    """A 752x480 EuRoC-like camera, mounted yawed away from the training camera."""
    rotation = so3_exp(np.array([0.0, 0.0, np.radians(yaw_deg)])) @ np.asarray(TRAINING_CAMERA_ROTATION).reshape(3, 3)
    return CameraModel(752, 480, 458.7, 457.3, 367.2, 248.4, tuple(distortion), tuple(rotation.reshape(9)))


def test_the_training_camera_is_the_synthetic_rigs_camera():
    synthetic = CameraConfig()
    assert (TRAINED.width, TRAINED.height) == (synthetic.width, synthetic.height)
    np.testing.assert_allclose(TRAINED.matrix, synthetic.intrinsics(), atol=1e-12)
    np.testing.assert_allclose(TRAINED.rotation, synthetic.T_body_cam()[:3, :3], atol=1e-12)
    assert CameraInput(TRAINED, TRAINED).identity
    assert rotation_difference_deg(rig_camera(yaw_deg=12.0), TRAINED) == pytest.approx(12.0, abs=1e-6)


def test_normalise_maps_rig_pixels_to_the_training_cameras_coordinates():
    """Points seen by the distorted, yawed, larger rig camera land where the training camera sees them."""
    rig = rig_camera()
    camera_input = CameraInput(rig, TRAINED)
    rng = np.random.default_rng(1)
    # Points in the IMU frame, in front of both cameras.
    in_trained = np.column_stack([rng.uniform(-0.6, 0.6, 200), rng.uniform(-0.5, 0.5, 200), np.ones(200)])
    points_imu = (in_trained * rng.uniform(1.0, 5.0, (200, 1))) @ TRAINED.rotation.T
    in_rig = points_imu @ rig.rotation  # rig optical frame
    assert np.all(in_rig[:, 2] > 0)
    rig_pixels = distort(in_rig[:, :2] / in_rig[:, 2:], rig.distortion[:4]) * [rig.fx, rig.fy] + [rig.cx, rig.cy]
    inside = (rig_pixels[:, 0] > 0) & (rig_pixels[:, 0] < 751) & (rig_pixels[:, 1] > 0) & (rig_pixels[:, 1] < 479)
    assert inside.sum() > 100
    prepared = (rig_pixels[inside] + 0.5) / [752 / 160, 480 / 128] - 0.5  # the same pixels after resizing
    normalised, valid = camera_input.normalise(prepared)
    assert valid.all() and normalised.dtype == np.float32
    np.testing.assert_allclose(normalised, in_trained[inside, :2], atol=2e-5)


def test_points_behind_the_training_camera_are_dropped():
    rig = rig_camera(yaw_deg=150.0, distortion=())
    normalised, valid = CameraInput(rig, TRAINED).normalise(np.array([[80.0, 64.0], [0.0, 0.0]]))
    assert not valid.any()


def test_tracks_of_a_larger_camera_match_the_training_cameras():
    """The same scene through a 2x camera (same field of view): resized, tracked and normalised, its
    tracks are the training camera's."""
    from skimage import data
    scene = cv2.resize(data.camera(), (640, 512), interpolation=cv2.INTER_AREA)
    shift = np.float32([[1, 0, 6.0], [0, 1, 3.0]])  # 6 px, 3 px of flow at 640x512
    big = [scene, cv2.warpAffine(scene, shift, (640, 512), borderMode=cv2.BORDER_REFLECT)]
    small = [cv2.resize(image, (320, 256), interpolation=cv2.INTER_AREA) for image in big]
    # the 320x256 camera is the training camera at 2x, the 640x512 one at 4x
    trained = scaled_to(TRAINED, 320, 256)
    native = extract_tracks(small[0], small[1], Intrinsics(trained.fx, trained.fy, trained.cx, trained.cy))
    rig = scaled_to(TRAINED, 640, 512)
    camera_input = CameraInput(rig, trained)
    prepared = [camera_input.prepare(image) for image in big]
    assert prepared[0].shape == (256, 320)
    mapped = extract_tracks(prepared[0], prepared[1], Intrinsics(0, 0, 0, 0), to_normalised=camera_input.normalise)
    native_flow = native[native[:, 5] > 0, 2:4]
    mapped_flow = mapped[mapped[:, 5] > 0, 2:4]
    assert len(mapped_flow) >= 0.8 * len(native_flow) > 20
    expected = np.array([6.0 / rig.fx, 3.0 / rig.fy])
    np.testing.assert_allclose(np.median(mapped_flow, axis=0), expected, rtol=0.05)
    np.testing.assert_allclose(np.median(native_flow, axis=0), expected, rtol=0.05)


def test_scaled_to_keeps_the_field_of_view():
    half = scaled_to(TRAINED, 80, 64)
    assert half.fx == pytest.approx(40.0) and half.cx == pytest.approx(39.5) and half.cy == pytest.approx(31.5)
    assert scaled_to(TRAINED, 160, 128) is TRAINED


@pytest.mark.parametrize("kwargs, message", [
    (dict(fx=0.0), "focal"),
    (dict(width=8), "at least 16x16"),
    (dict(distortion=(0.1, 0.2, 0.3)), "plumb_bob distortion needs"),
    (dict(distortion_model="kannala"), "not supported"),
    (dict(R_imu_camera=(1.0,) * 9), "not a rotation"),
])
def test_bad_calibrations_are_refused(kwargs, message):
    values = dict(width=752, height=480, fx=458.7, fy=457.3, cx=367.2, cy=248.4)
    values.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        CameraModel(**values)


def test_equidistant_fisheye_points_are_undistorted():
    k = (0.0035, 0.0007, -0.002, 0.0002)
    rig = CameraModel(512, 512, 191.0, 191.0, 254.9, 256.9, k, TRAINING_CAMERA_ROTATION, "equidistant")
    rays = np.array([[0.1, -0.2, 1.0], [0.5, 0.3, 1.0], [-0.4, 0.1, 1.0]])
    pixels = cv2.fisheye.projectPoints(rays.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), rig.matrix,
                                       np.array(k))[0].reshape(-1, 2)
    prepared = (pixels + 0.5) / [512 / 160, 512 / 128] - 0.5
    normalised, valid = CameraInput(rig, TRAINED).normalise(prepared)
    assert valid.all()
    np.testing.assert_allclose(normalised, rays[:, :2], atol=1e-5)


def test_the_training_camera_read_from_a_yaml_is_the_identity_mapping():
    rounded = CameraModel(160, 128, 80.0, 80.0, 79.5, 63.5, (0.0, 0.0, 0.0, 0.0),
                          tuple(round(v, 12) for v in TRAINING_CAMERA_ROTATION))
    assert CameraInput(rounded, TRAINED).identity
    assert not CameraInput(rig_camera(yaw_deg=0.001, distortion=()), TRAINED).identity


def test_derotated_flow_of_a_pure_rotation_is_zero_and_a_translation_is_kept():
    rng = np.random.default_rng(4)
    start = np.column_stack([rng.uniform(-0.8, 0.8, 40), rng.uniform(-0.6, 0.6, 40)])
    rotation = so3_exp(np.array([0.02, -0.03, 0.01]))  # camera rotation prev -> cur
    rays = np.column_stack([start, np.ones(40)]) @ rotation  # static points seen after the rotation
    end = rays[:, :2] / rays[:, 2:]
    tracks = np.zeros((64, TRACK_CHANNELS), dtype=np.float32)
    tracks[:40, 0:2], tracks[:40, 2:4], tracks[:40, 5] = start, end - start, 1.0
    out = derotated(tracks, rotation)
    assert np.abs(out[:40, 2:4]).max() < 1e-6 and np.all(out[40:] == 0)
    np.testing.assert_array_equal(out[:, [0, 1, 4, 5]], tracks[:, [0, 1, 4, 5]])
    np.testing.assert_allclose(derotated(tracks, np.eye(3))[:, 2:4], tracks[:, 2:4], atol=1e-7)
    # with the model's mount, a body rotation becomes the camera rotation
    config = ModelConfig(derotate_tracks=True)
    body = so3_exp(np.array([0.0, 0.0, 0.05]))  # yaw about IMU z: the forward camera pans
    camera = config.camera_rotation(body)
    np.testing.assert_allclose(camera, TRAINED.rotation.T @ body @ TRAINED.rotation, atol=1e-12)
    np.testing.assert_allclose(config.network_tracks(tracks, body, 0.1), derotated(tracks, camera), atol=0)


def test_network_tracks_give_flow_per_training_frame_period_when_asked() -> None:
    rng = np.random.default_rng(4)
    tracks = np.zeros((64, TRACK_CHANNELS), dtype=np.float32)
    tracks[:30, 0:5] = rng.uniform(-0.5, 0.5, (30, 5))
    tracks[:30, 5] = 1.0
    body = so3_exp(np.array([0.01, 0.02, -0.03]))
    assert ModelConfig().network_tracks(tracks, body, 0.2) is tracks  # neither option: the tracks as extracted
    per_frame = ModelConfig(flow_per_nominal_frame=True)
    for dt_s, scale in ((NOMINAL_FRAME_S, 1.0), (2 * NOMINAL_FRAME_S, 0.5), (0.025, NOMINAL_FRAME_S / 0.025)):
        out = per_frame.network_tracks(tracks, body, dt_s)
        np.testing.assert_allclose(out[:, 2:4], tracks[:, 2:4] * scale, rtol=1e-6)  # flow per 1/30 s
        np.testing.assert_array_equal(out[:, [0, 1, 4, 5]], tracks[:, [0, 1, 4, 5]])
    both = ModelConfig(derotate_tracks=True, flow_per_nominal_frame=True).network_tracks(tracks, body, 0.05)
    expected = derotated(tracks, ModelConfig().camera_rotation(body))
    np.testing.assert_allclose(both[:, 2:4], expected[:, 2:4] * NOMINAL_FRAME_S / 0.05, rtol=1e-6)
    assert np.all(tracks[:30, 2:4] != both[:30, 2:4])  # a new array: the caller's tracks are left alone
