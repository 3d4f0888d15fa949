"""Forward-backward Lucas-Kanade: a known sub-pixel shift of a real photograph is recovered, points
that leave the image or cannot be tracked get an infinite error."""
from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from arvr_hybrid_vio.core.lucas_kanade import track_forward_backward


def _photo_and_shifted(shift_xy: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    photo = cv2.resize(data.camera(), (160, 128), interpolation=cv2.INTER_AREA)
    warp = np.array([[1.0, 0.0, shift_xy[0]], [0.0, 1.0, shift_xy[1]]])
    return photo, cv2.warpAffine(photo, warp, (160, 128), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_a_sub_pixel_shift_is_recovered_and_agrees_forward_and_backward() -> None:
    photo, shifted = _photo_and_shifted((2.3, -1.6))
    start = cv2.goodFeaturesToTrack(photo, 40, 0.01, 6, blockSize=5).reshape(-1, 2).astype(np.float32)
    inner = np.all((start > 20) & (start < np.array([140, 108])), axis=1)  # away from the reflected border
    end, error = track_forward_backward(photo, shifted, start[inner], window_px=15, pyramid_levels=3)
    assert end.shape == (int(inner.sum()), 2) and inner.sum() >= 15
    good = error < 0.2
    assert good.mean() > 0.8
    np.testing.assert_allclose(np.median(end[good] - start[inner][good], axis=0), [2.3, -1.6], atol=0.1)


def test_points_that_leave_the_image_or_find_no_texture_get_an_infinite_error() -> None:
    photo, shifted = _photo_and_shifted((12.0, 0.0))
    flat = np.full_like(photo, 128)
    start = np.array([[155.0, 60.0], [80.0, 60.0]], dtype=np.float32)  # the first is pushed out of the image
    _, error = track_forward_backward(photo, shifted, start, window_px=15, pyramid_levels=3)
    assert np.isinf(error[0]) and np.isfinite(error[1])
    _, error_flat = track_forward_backward(flat, flat, start[1:], window_px=15, pyramid_levels=3)
    assert np.isinf(error_flat[0])  # no gradient: LK reports failure
