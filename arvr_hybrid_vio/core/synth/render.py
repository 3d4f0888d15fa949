"""Vectorised ray casting of a textured box room with box furniture.

The room is an axis-aligned box that encloses the trajectory (its walls, floor and
ceiling face inwards); furniture boxes stand on the floor away from the trajectory.
Each face carries a photographic texture repeated every ``tile_m`` metres, sampled
bilinearly from a blur stack chosen by the pixel footprint (trilinear, like mipmaps),
and a constant shade times a soft ceiling-light falloff.

Face ids: ``6 * object + 2 * axis + side`` with object 0 the room and 1..K the boxes,
axis 0/1/2 = x/y/z normal, side 0 = the plane at the low coordinate, 1 = high.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arvr_hybrid_vio.core.synth.textures import texture_stack

_UV_AXES = np.array([[1, 2], [0, 2], [0, 1]])  # texture (u, v) world axes for x, y, z normals


@dataclass(frozen=True)
class Scene:
    """Geometry and appearance of the room."""

    room_lo: np.ndarray  # (3,) room corner with the smallest coordinates, m
    room_hi: np.ndarray  # (3,) opposite room corner, m
    boxes_lo: np.ndarray  # (K, 3) furniture corners, m
    boxes_hi: np.ndarray  # (K, 3)
    face_texture: np.ndarray  # (6 + 6K,) texture index per face
    face_tile_m: np.ndarray  # (6 + 6K,) metres per texture repeat
    face_shade: np.ndarray  # (6 + 6K,) brightness factor
    light_xyz: np.ndarray  # (3,) ceiling light position, m


def build_scene(positions_xyz: np.ndarray, rng: np.random.Generator, *, texture_count: int,
                furniture: int = 6, clearance_m: float = 0.6) -> Scene:
    """A random room enclosing ``positions_xyz`` (N, 3), with up to ``furniture`` boxes clear of it."""
    lo, hi = positions_xyz.min(axis=0), positions_xyz.max(axis=0)
    centre = (lo + hi) / 2.0
    half = np.maximum((hi - lo) / 2.0 + rng.uniform(1.2, 2.5, 3), 1.8)
    room_lo = np.r_[centre[:2] - half[:2], min(0.0, lo[2] - 1.0)]
    room_hi = np.r_[centre[:2] + half[:2], max(2.5, hi[2] + 0.6) + rng.uniform(0.0, 0.5)]
    boxes = [_furniture_box(positions_xyz, room_lo, room_hi, rng, clearance_m) for _ in range(furniture)]
    boxes = [b for b in boxes if b is not None]
    boxes_lo = np.array([b[0] for b in boxes]).reshape(-1, 3)
    boxes_hi = np.array([b[1] for b in boxes]).reshape(-1, 3)
    faces = 6 + 6 * len(boxes)
    tile = np.r_[np.full(4, rng.uniform(1.5, 2.5)), rng.uniform(1.0, 2.0), rng.uniform(1.5, 3.0),
                 rng.uniform(0.5, 1.0, faces - 6)]
    shade = np.r_[rng.uniform(0.7, 1.0, 4), 0.9, 0.6, rng.uniform(0.6, 1.1, faces - 6)]
    light = np.r_[(room_lo[:2] + room_hi[:2]) / 2.0, room_hi[2] - 0.1]
    return Scene(room_lo, room_hi, boxes_lo, boxes_hi, rng.integers(0, texture_count, faces), tile, shade, light)


def _furniture_box(positions_xyz: np.ndarray, room_lo: np.ndarray, room_hi: np.ndarray,
                   rng: np.random.Generator, clearance_m: float) -> tuple[np.ndarray, np.ndarray] | None:
    """One floor-standing box that keeps ``clearance_m`` from the trajectory in xy, or None."""
    for _ in range(50):
        size = np.r_[rng.uniform(0.4, 1.4, 2), rng.uniform(0.4, 1.9)]
        corner = rng.uniform(room_lo[:2], room_hi[:2] - size[:2])
        box_lo, box_hi = np.r_[corner, room_lo[2]], np.r_[corner + size[:2], room_lo[2] + size[2]]
        gap = np.maximum(np.maximum(box_lo[:2] - positions_xyz[:, :2], positions_xyz[:, :2] - box_hi[:2]), 0.0)
        if np.linalg.norm(gap, axis=1).min() > clearance_m:
            return box_lo, box_hi
    return None


def cast_rays(scene: Scene, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of rays from ``origin`` (inside the room). Shape: (3,), (N, 3) -> t (N,), face (N,)."""
    safe = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
    inv = 1.0 / safe
    exit_t = np.where(safe > 0, (scene.room_hi - origin) * inv, (scene.room_lo - origin) * inv)
    axis = exit_t.argmin(axis=1)
    rows = np.arange(len(dirs))
    t = exit_t[rows, axis]
    face = 2 * axis + (safe[rows, axis] > 0)
    if len(scene.boxes_lo):
        t_lo = (scene.boxes_lo[:, None, :] - origin) * inv  # (K, N, 3)
        t_hi = (scene.boxes_hi[:, None, :] - origin) * inv
        t_min = np.minimum(t_lo, t_hi)
        near = t_min.max(axis=2)
        hit = (near <= np.maximum(t_lo, t_hi).min(axis=2)) & (near > 1e-6)
        near = np.where(hit, near, np.inf)
        box = near.argmin(axis=0)
        box_t = near[box, rows]
        closer = box_t < t
        box_axis = t_min[box, rows].argmax(axis=1)
        box_face = 6 * (box + 1) + 2 * box_axis + (safe[rows, box_axis] < 0)
        t = np.where(closer, box_t, t)
        face = np.where(closer, box_face, face)
    return t, face


class Renderer:
    """Renders radiance and depth of a scene for one camera (rays fixed at construction)."""

    def __init__(self, scene: Scene, rays_cam: np.ndarray, focal_px: float, image_hw: tuple[int, int], *,
                 texture_size: int = 256) -> None:
        self.scene = scene
        self.rays_cam = rays_cam  # (N, 3), z = 1: the ray parameter is the optical depth
        self.focal_px = focal_px
        self.image_hw = image_hw
        self.textures = texture_stack(texture_size)
        self._flat = self.textures.reshape(-1)
        self._ray_norm = np.linalg.norm(rays_cam, axis=1)

    def render(self, R_world_cam: np.ndarray, t_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Radiance in [0, ~1.1] and optical depth (m). Shape: -> (H, W) float32, (H, W) float64."""
        dirs = self.rays_cam @ R_world_cam.T
        t, face = cast_rays(self.scene, t_world_cam, dirs)
        points = t_world_cam + t[:, None] * dirs
        radiance = self._shade(points, dirs, t, face)
        return radiance.reshape(self.image_hw), t.reshape(self.image_hw)

    def _shade(self, points: np.ndarray, dirs: np.ndarray, t: np.ndarray, face: np.ndarray) -> np.ndarray:
        scene = self.scene
        axis = (face % 6) // 2
        uv_axes = _UV_AXES[axis]
        tile = scene.face_tile_m[face]
        size = self.textures.shape[-1]
        uv = np.take_along_axis(points, uv_axes, axis=1) / tile[:, None] * size
        uv[:, 1] = np.where(axis < 2, -uv[:, 1], uv[:, 1])  # walls: image rows run down
        cos_incidence = np.abs(np.take_along_axis(dirs, axis[:, None], axis=1)[:, 0]) / self._ray_norm
        footprint_m = t * self._ray_norm / (self.focal_px * np.maximum(cos_incidence, 0.05) * self._ray_norm)
        level = np.clip(np.log2(np.maximum(footprint_m * size / tile, 1e-6)), 0.0, self.textures.shape[0] - 1.0)
        texel = self._trilinear(scene.face_texture[face], uv, level)
        light = 1.0 / (1.0 + np.sum((points - scene.light_xyz) ** 2, axis=1) / 16.0)
        return (texel * scene.face_shade[face] * (0.55 + 0.45 * light)).astype(np.float32)

    def _trilinear(self, tex: np.ndarray, uv: np.ndarray, level: np.ndarray) -> np.ndarray:
        low = np.floor(level).astype(np.int64)
        high = np.minimum(low + 1, self.textures.shape[0] - 1)
        frac = level - low
        return (1.0 - frac) * self._bilinear(low, tex, uv) + frac * self._bilinear(high, tex, uv)

    def _bilinear(self, level: np.ndarray, tex: np.ndarray, uv: np.ndarray) -> np.ndarray:
        _, count, size, _ = self.textures.shape
        base = (level * count + tex) * size * size
        xy = uv - 0.5
        x0 = np.floor(xy[:, 0])
        y0 = np.floor(xy[:, 1])
        fx, fy = xy[:, 0] - x0, xy[:, 1] - y0
        x0 = x0.astype(np.int64) % size
        y0 = y0.astype(np.int64) % size
        x1, y1 = (x0 + 1) % size, (y0 + 1) % size
        flat = self._flat
        top = flat[base + y0 * size + x0] * (1 - fx) + flat[base + y0 * size + x1] * fx
        bottom = flat[base + y1 * size + x0] * (1 - fx) + flat[base + y1 * size + x1] * fx
        return top * (1 - fy) + bottom * fy
