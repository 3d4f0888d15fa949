"""Rendering: projection agrees with the pinhole model, depth with the geometry; frames are alive."""
from __future__ import annotations

import numpy as np
import pytest

from arvr_hybrid_vio.core.synth.camera import R_BODY_OPTICAL, CameraConfig, distort, pixel_rays, project, undistort
from arvr_hybrid_vio.core.synth.render import Renderer, Scene, cast_rays
from arvr_hybrid_vio.core.synth.sequence import MotionConfig, SynthConfig, generate_sequence
from arvr_hybrid_vio.core.synth.textures import PHOTOS, texture_stack

ROOM_LO, ROOM_HI = np.array([-4.0, -4.0, 0.0]), np.array([4.0, 4.0, 3.0])


def marker_scene(centre: np.ndarray, half_size: float) -> Scene:
    """A black room with one bright, thin square marker facing -x, centred at ``centre``."""
    lo = centre - np.array([0.001, half_size, half_size])
    hi = centre + np.array([0.001, half_size, half_size])
    faces = 12
    return Scene(ROOM_LO, ROOM_HI, lo[None], hi[None], np.zeros(faces, dtype=np.int64), np.full(faces, 1000.0),
                 np.r_[np.zeros(6), np.ones(6)], np.array([0.0, 0.0, 2.9]))


def camera_looking_along_x(config: CameraConfig, position: np.ndarray, yaw_deg: float = 0.0):
    yaw = np.radians(yaw_deg)
    R_world_body = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    return R_world_body @ R_BODY_OPTICAL, position


def render_marker(config: CameraConfig, centre: np.ndarray, half_size: float):
    """Marker mask (H, W) bool and the camera pose looking at it."""
    R_world_cam, t_world_cam = camera_looking_along_x(config, np.array([0.0, 0.0, 1.5]), yaw_deg=5.0)
    renderer = Renderer(marker_scene(centre, half_size), pixel_rays(config), config.focal_px,
                        (config.height, config.width))
    radiance, _ = renderer.render(R_world_cam, t_world_cam)
    return radiance > 0.0, R_world_cam, t_world_cam


@pytest.mark.parametrize("marker_yz", [(0.0, 0.0), (0.8, -0.5), (-1.1, 0.6)])
def test_marker_centroid_is_the_pinhole_projection_of_its_centre(marker_yz) -> None:
    config = CameraConfig(width=160, height=128)
    centre = np.array([2.5, marker_yz[0], 1.5 + marker_yz[1]])
    mask, R_world_cam, t_world_cam = render_marker(config, centre, 0.12)
    v, u = np.nonzero(mask)
    assert 20 <= len(u) < 400  # the marker is visible and small
    expected = project(config, ((centre - t_world_cam) @ R_world_cam)[None])[0]
    assert np.hypot(u.mean() - expected[0], v.mean() - expected[1]) < 0.25


@pytest.mark.parametrize("distortion", [(0.0, 0.0, 0.0, 0.0), (-0.25, 0.06, 0.001, -0.002)])
@pytest.mark.parametrize("marker_yz", [(0.0, 0.0), (0.8, -0.5), (-1.1, 0.6)])
def test_known_points_appear_where_the_camera_model_projects_them(distortion, marker_yz) -> None:
    config = CameraConfig(width=160, height=128, distortion=distortion)
    centre = np.array([2.5, marker_yz[0], 1.5 + marker_yz[1]])
    mask, R_world_cam, t_world_cam = render_marker(config, centre, 0.2)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), axis=-1).reshape(-1, 2)
    for scale, expected in ((0.2 * 0.7, True), (0.2 * 1.4, False)):  # inside the square, and a ring outside
        points = centre + np.c_[np.zeros(len(grid)), grid * scale]
        if not expected:
            points = points[np.abs(grid).max(axis=1) == 1.0]
        pixels = np.rint(project(config, (points - t_world_cam) @ R_world_cam)).astype(int)
        assert (mask[pixels[:, 1], pixels[:, 0]] == expected).all()


def test_depth_of_pixels_matches_the_room_geometry() -> None:
    config = CameraConfig(width=64, height=48, hfov_deg=60.0)
    position = np.array([1.0, -0.5, 1.5])
    R_world_cam, t_world_cam = camera_looking_along_x(config, position)
    empty = Scene(ROOM_LO, ROOM_HI, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(6, dtype=np.int64), np.ones(6),
                  np.ones(6), np.array([0.0, 0.0, 2.9]))
    renderer = Renderer(empty, pixel_rays(config), config.focal_px, (config.height, config.width))
    _, depth = renderer.render(R_world_cam, t_world_cam)
    assert np.allclose(depth, ROOM_HI[0] - position[0])  # every pixel sees the +x wall, optical depth = distance
    rays = pixel_rays(config) @ R_world_cam.T
    t, face = cast_rays(empty, t_world_cam, rays)
    assert set(np.unique(face)) == {1}  # room face id of the +x wall


def test_radtan_undistort_inverts_distort() -> None:
    points = np.random.default_rng(0).uniform(-0.8, 0.8, (500, 2))
    coeffs = (-0.28, 0.07, 0.0005, -0.0003)
    assert np.allclose(undistort(distort(points, coeffs), coeffs), points, atol=1e-9)


def test_textures_are_photographs_with_contrast() -> None:
    stack = texture_stack(64)
    assert stack.shape == (5, len(PHOTOS), 64, 64)
    assert (stack[0].std(axis=(1, 2)) > 0.1).all()
    assert (stack[-1].std(axis=(1, 2)) < stack[0].std(axis=(1, 2))).all()  # blur levels lose detail


@pytest.fixture(scope="module")
def short_sequence():
    config = SynthConfig(motion=MotionConfig(motion="head", duration_s=3.0),
                         camera=CameraConfig(width=80, height=64))
    return generate_sequence(config, 11)


def test_frames_are_never_blank_and_consecutive_frames_differ(short_sequence) -> None:
    images = short_sequence.images.astype(np.float64)
    assert images.shape == (91, 64, 80)
    assert (images.std(axis=(1, 2)) > 8.0).all()
    assert (images.mean(axis=(1, 2)) > 30.0).all() and (images.mean(axis=(1, 2)) < 225.0).all()
    assert (np.abs(np.diff(images, axis=0)).mean(axis=(1, 2)) > 0.5).all()  # noise and motion change every frame


def test_generation_is_deterministic_from_the_seed(short_sequence) -> None:
    again = generate_sequence(short_sequence.config, 11)
    assert np.array_equal(again.images, short_sequence.images)
    assert np.array_equal(again.gyro, short_sequence.gyro)
    other = generate_sequence(short_sequence.config, 12)
    assert not np.allclose(other.gt_positions_xyz, short_sequence.gt_positions_xyz)
