"""Persistent feature tracks on a real photograph moved by known amounts."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from arvr_hybrid_vio.core.feature_tracker import FeatureTracker, TrackerConfig


def pixels(points: np.ndarray) -> np.ndarray:
    """The identity 'normalisation': observations stay in pixels."""
    return np.asarray(points, dtype=np.float64)


def crops(photo: np.ndarray, width: int, height: int, step: tuple[int, int], count: int) -> list[np.ndarray]:
    """Windows of ``photo`` moved by ``step`` px per frame: the scene moves by -step in the image."""
    return [np.ascontiguousarray(photo[40 + k * step[1]:40 + k * step[1] + height,
                                       40 + k * step[0]:40 + k * step[0] + width]) for k in range(count)]


def displacements(tracker: FeatureTracker, frames: int) -> tuple[np.ndarray, int]:
    """Per-frame displacement (frames, 2) of the features seen in every frame, and their count."""
    observations = tracker.observations(np.arange(frames))
    ids, counts = np.unique(observations.feature, return_counts=True)
    lasting = ids[counts == frames]
    moves = []
    for frame in range(frames):
        rows = (observations.frame == frame) & np.isin(observations.feature, lasting)
        order = np.argsort(observations.feature[rows])
        moves.append(observations.xy[rows][order])
    return np.array([m - moves[0] for m in moves]).mean(axis=1), len(lasting)


@pytest.mark.parametrize("size, scale", [((160, 128), 1.0), ((640, 512), 2.0)])
def test_tracks_keep_their_identity_and_follow_the_scene(size, scale) -> None:
    photo = data.camera()  # 512x512 grey photograph
    if scale != 1.0:
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    step = (int(2 * scale), int(1 * scale))
    tracker = FeatureTracker(TrackerConfig())
    for stamp, image in enumerate(crops(photo, *size, step, 6)):
        tracker.add_frame(stamp, image, pixels)
    assert tracker.frames == 6
    moves, lasting = displacements(tracker, 6)
    assert lasting >= 20  # many features last all 6 frames
    expected = -np.arange(6)[:, None] * np.array(step, dtype=float)
    np.testing.assert_allclose(moves, expected, atol=0.1 * scale)  # full-size pixels, also when tracked at 320 px


def test_lost_features_are_replaced_and_the_window_can_shrink() -> None:
    photo = data.camera()
    tracker = FeatureTracker(TrackerConfig(max_features=50))
    frames = crops(photo, 160, 128, (6, 0), 4) + [np.zeros((128, 160), np.uint8) + 128, photo[300:428, 300:460]]
    for stamp, image in enumerate(frames):
        tracker.add_frame(stamp, np.ascontiguousarray(image), pixels)
    observations = tracker.observations(np.arange(tracker.frames))
    per_frame = np.bincount(observations.frame, minlength=6)
    assert per_frame[0] >= 20 and per_frame[4] == 0  # a blank frame: every track ends, nothing to detect
    assert per_frame[5] >= 20 and not set(observations.feature[observations.frame == 5]) & set(
        observations.feature[observations.frame < 4])  # new features, new identities
    tracker.drop_oldest()
    assert tracker.frames == 5 and np.bincount(tracker.observations(np.arange(5)).frame)[0] == per_frame[1]
    tracker.reset()
    assert tracker.frames == 0 and tracker.observations(np.arange(0)).feature.size == 0


def test_tracking_prepared_at_arrival_is_the_same_and_used_only_for_its_frame() -> None:
    photo = data.camera()
    images = crops(photo, 160, 128, (2, 1), 6)
    plain, prepared = FeatureTracker(TrackerConfig()), FeatureTracker(TrackerConfig())
    for stamp, image in enumerate(images):
        plain.add_frame(stamp, image, pixels)
        if stamp == 3:
            prepared.prepare(stamp + 1, image)  # tracked for another frame: must not be taken
        else:
            prepared.prepare(stamp, image)
        prepared.add_frame(stamp, image, pixels)
    assert prepared.offered_used == 5 and prepared.computed == 1  # frame 3's were tracked for another frame
    for frame in range(6):
        ours, theirs = plain.observations(np.array([frame])), prepared.observations(np.array([frame]))
        np.testing.assert_array_equal(ours.feature, theirs.feature)
        np.testing.assert_array_equal(ours.xy, theirs.xy)


@pytest.mark.parametrize("radius", [1, 3, 8])
def test_the_corner_mask_is_the_one_cv2_circle_draws(radius: int) -> None:
    """``masked_discs`` stamps the pixels one ``cv2.circle`` call per point fills: random points, half-pixel
    centres (rounded half to even, as Python's ``round``) and discs cut by the border."""
    from arvr_hybrid_vio.core.feature_tracker import masked_discs
    rng = np.random.default_rng(radius)
    shape = (128, 160)
    for trial in range(200):
        points = rng.uniform([-2.0, -2.0], [shape[1] + 1.0, shape[0] + 1.0], (int(rng.integers(0, 70)), 2))
        if trial % 3 == 0:
            points = np.floor(points) + 0.5  # exact halves
        points = points.astype(np.float32)
        drawn = np.full(shape, 255, dtype=np.uint8)
        for x, y in points:
            cv2.circle(drawn, (int(round(x)), int(round(y))), radius, 0, -1)
        np.testing.assert_array_equal(masked_discs(shape, points, radius), drawn)
