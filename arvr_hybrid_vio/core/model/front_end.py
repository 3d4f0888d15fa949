"""The network's visual front-end: rig images as the training camera sees them, and tracks between them.

:class:`VisualFrontEnd` maps each image onto the training camera (``camera_input``) and
extracts the feature tracks (``visual_tracks``) from a reference frame into the current one.
It needs the model's config only, not its weights, and imports no torch: so a bag reader
process can run it ahead of the estimator (``tracks_ahead``) while the estimator's process
imports torch and runs the network, as a VIO front-end thread runs beside its back-end.

Live, the node does the same at image arrival, while the frame still waits for the IMU sample
that completes it (``VioEstimator.prepare_image``), so the step after that sample is shorter; and
before that, once the previous pose is out, it finds the corners to track in the reference frame
(:meth:`VisualFrontEnd.prepare_corners`, from ``VioEstimator.finish_frame``), so that only the
Lucas-Kanade passes are left for the image's arrival.

Tracks computed ahead are handed to the estimator's front-end with :meth:`VisualFrontEnd.offer`;
it uses them when they are for the same reference and current frame (stamps) and the same
rig camera, and computes the tracks itself otherwise (a frame the estimator skipped, a reset,
another camera). The numbers are the same either way: it is the same function on the same images.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.model.camera_input import (
    MAX_MOUNT_DIFFERENCE_DEG, CameraInput, CameraModel, scaled_to, trained_camera)
from arvr_hybrid_vio.core.model.model_config import ModelConfig
from arvr_hybrid_vio.core.model.visual_tracks import Intrinsics, detect_corners, extract_tracks
from arvr_hybrid_vio.core.types import SyncedFrame

LOGGER = logging.getLogger(__name__)
_OFFERED_LIMIT = 1024  # tracks computed ahead kept until used (older ones are dropped unused)


@dataclass(frozen=True)
class FrameView:
    """A frame's image as the network sees it (training size) and the camera it came from."""

    stamp_ns: int  # the frame's stamp
    image: np.ndarray  # (h, w) uint8 at the training camera's size
    rig: CameraModel  # the rig camera (at the frame's image size) the image was mapped from


@dataclass(frozen=True)
class TracksAhead:
    """Tracks between two frames computed before the estimator reached them."""

    reference_stamp_ns: int  # the frame the tracks start in
    stamp_ns: int  # the frame they end in
    rig: CameraModel  # the rig camera both images were mapped from
    tracks: np.ndarray  # (N, TRACK_CHANNELS) float32, as ``extract_tracks`` returns them


@dataclass
class FrontEndCounters:
    """How the front-end's tracks came about."""

    tracks_offered_used: int = 0  # taken from tracks computed ahead
    tracks_computed: int = 0  # computed on the spot
    corners_prepared_used: int = 0  # of those, computed from corners found beforehand (prepare_corners)


class VisualFrontEnd:
    """Training-camera views of rig images, and feature tracks between two views."""

    def __init__(self, config: ModelConfig, camera: CameraModel | None = None) -> None:
        """``camera``: the rig camera (None: the training camera's field of view and mount at
        whatever size the images have)."""
        self.config = config
        fx, fy, cx, cy = config.intrinsics
        self.intrinsics = Intrinsics(fx, fy, cx, cy)
        self.trained_camera = trained_camera(config)
        self.counters = FrontEndCounters()
        self._rig_camera = camera
        self._camera_input: CameraInput | None = None  # built for the image size in use
        self._offered: OrderedDict[tuple[int, int], TracksAhead] = OrderedDict()
        # the corners found in one view's image beforehand (prepare_corners): that image, and the corners
        self._prepared_corners: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def rig_camera(self) -> CameraModel | None:
        """The rig camera set with ``set_camera`` (None: the training camera's field of view)."""
        return self._rig_camera

    def set_camera(self, camera: CameraModel | None) -> None:
        """The rig's camera (intrinsics, distortion, mount); None assumes the training camera's
        field of view and mount at whatever size the images have."""
        self._rig_camera = camera
        self._camera_input = None

    def view(self, frame: SyncedFrame) -> FrameView:
        """The frame's image at the training camera's size."""
        return self.view_image(frame.stamp_ns, frame.image)

    def view_image(self, stamp_ns: int, image: np.ndarray) -> FrameView:
        """An image (of a frame at ``stamp_ns``) at the training camera's size."""
        camera = self._input_for(image)
        return FrameView(int(stamp_ns), camera.prepare(image), camera.rig)

    def tracks(self, reference: FrameView, current: FrameView) -> np.ndarray:
        """Tracks from ``reference`` into ``current``: the offered ones when they match, else computed.

        Shape: -> (N, TRACK_CHANNELS) float32.
        """
        offered = self._offered.get((reference.stamp_ns, current.stamp_ns))  # kept: a chunk may be re-evaluated
        if offered is not None and offered.rig == current.rig == reference.rig:  # computed from the same camera
            self.counters.tracks_offered_used += 1
            return offered.tracks
        self.counters.tracks_computed += 1
        return self.compute_tracks(reference, current)

    def compute_tracks(self, reference: FrameView, current: FrameView) -> np.ndarray:
        """Tracks from ``reference`` into ``current`` (OpenCV), mapped into the training camera."""
        camera = self._camera_input
        if camera is None or camera.rig != current.rig:  # a view made before a camera change
            camera = CameraInput(current.rig, self.trained_camera)
        prepared = self._prepared_corners
        corners = prepared[1] if prepared is not None and prepared[0] is reference.image else None  # the same array
        if corners is not None:
            self.counters.corners_prepared_used += 1
        return extract_tracks(reference.image, current.image, self.intrinsics, self.config.tracks,
                              to_normalised=None if camera.identity else camera.normalise, corners=corners)

    def prepare_corners(self, reference: FrameView) -> None:
        """Find the corners that tracks out of ``reference`` start from, now (live: once the previous
        pose is out), so that :meth:`compute_tracks` from it only tracks them. The tracks are the same."""
        prepared = self._prepared_corners
        if prepared is None or prepared[0] is not reference.image:
            self._prepared_corners = (reference.image, detect_corners(reference.image, self.config.tracks))

    def track_ahead(self, reference: FrameView, current: FrameView) -> TracksAhead:
        """Tracks from ``reference`` into ``current`` computed now, for a step still to come."""
        return TracksAhead(reference.stamp_ns, current.stamp_ns, current.rig, self.compute_tracks(reference, current))

    def offer(self, ahead: TracksAhead) -> None:
        """Tracks computed ahead (e.g. by a reader process), for :meth:`tracks` to use (the latest
        ``_OFFERED_LIMIT`` are kept)."""
        self._offered[(ahead.reference_stamp_ns, ahead.stamp_ns)] = ahead
        while len(self._offered) > _OFFERED_LIMIT:
            self._offered.popitem(last=False)

    def _input_for(self, image: np.ndarray) -> CameraInput:
        height, width = image.shape
        current = self._camera_input
        if current is None or (current.rig.width, current.rig.height) != (width, height):
            rig = scaled_to(self._rig_camera or self.trained_camera, width, height)
            current = self._camera_input = CameraInput(rig, self.trained_camera)
            if not current.identity:
                LOGGER.info("camera %dx%d (fx %.1f, fy %.1f%s) mapped onto the training camera %dx%d; "
                            "mount %.1f deg from the training mount", width, height, rig.fx, rig.fy,
                            ", distorted" if rig.distortion else "", self.trained_camera.width,
                            self.trained_camera.height, current.mount_difference_deg)
            if current.mount_difference_deg > MAX_MOUNT_DIFFERENCE_DEG:
                LOGGER.warning("the camera is mounted %.0f deg away from the camera this model was trained "
                               "with: few features map into its view, expect degraded accuracy (retrain "
                               "on data rendered with this mount)", current.mount_difference_deg)
        return current


def tracks_ahead(frames: Iterable[SyncedFrame], front_end: VisualFrontEnd, *,
                 leave: Callable[[], bool] | None = None) -> Iterator[tuple[SyncedFrame, TracksAhead | None]]:
    """Each frame with the tracks into it from the frame before (None for the first frame after a
    restart and for frames the estimator would skip), as the estimator will ask for them.

    ``leave``, asked before each frame's tracks, returning True leaves them to the estimator (None
    then): it computes the tracks it is not offered itself, with the same result. A reader process
    uses it to hand work over when the estimator would otherwise wait for it."""
    reference: FrameView | None = None
    for frame in frames:
        if frame.frame_index == 0:
            reference = None
        if not frame.is_usable():
            yield frame, None
            continue
        current = front_end.view(frame)
        left = reference is None or (leave is not None and leave())
        ahead = None if left else front_end.track_ahead(reference, current)
        reference = current
        yield frame, ahead


def offered_to(front_end: VisualFrontEnd | None,
               frames: Iterable[tuple[SyncedFrame, TracksAhead | None]]) -> Iterator[SyncedFrame]:
    """The frames of ``tracks_ahead``, their tracks offered to ``front_end`` (the estimator's) on the way."""
    for frame, ahead in frames:
        if ahead is not None and front_end is not None:
            front_end.offer(ahead)
        yield frame
