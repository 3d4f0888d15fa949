"""Procedural AR/VR head motion, deterministic from a seed.

A motion is a sum of smooth events on six channels (x, y, z, yaw, pitch, roll):
C^3 "smoothsteps" (septic minimum-snap profile) that move the head from one
posture to the next, and windowed oscillations (walking bob, sway). Every sequence
starts with ``rest_s`` seconds at exact rest (the headset being put on), so static
initialisation works. The dense channels are then fitted by the quintic
:class:`MotionSpline`, so all derivatives are exact.

Presets: ``seated`` (look-around), ``standing`` (stand up, look around),
``walking`` (2 Hz head bob), ``saccade`` (fast turns up to 300 deg/s),
``drift`` (slow drifts and pauses), ``head`` (a random mix of those), ``sweep``
(handheld-style translation back and forth, up to 0.6 m/s, with drifts; not in ``head``) and
``drone`` (a multirotor flying between waypoints at up to 2.5 m/s, its roll and pitch following its
thrust as a multirotor's must; not in ``head``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from arvr_hybrid_vio.core.errors import ConfigError
from arvr_hybrid_vio.core.synth.motion import GRAVITY_WORLD, MotionSpline

SAMPLE_RATE_HZ = 100.0  # rate of the dense channels the spline interpolates
SEATED_Z = 1.2  # eye height seated, m
STANDING_Z = 1.65  # eye height standing, m
PITCH_LIMIT = np.radians(40.0)
SMOOTHSTEP_PEAK = 35.0 / 16.0  # peak slope of the septic smoothstep on [0, 1]
DRONE_YAW_RATE = np.radians(90.0)  # peak yaw rate of a heading change in flight, rad/s


def smoothstep7(x: np.ndarray) -> np.ndarray:
    """C^3 step from 0 to 1 on [0, 1] (zero velocity, acceleration and jerk at both ends)."""
    x = np.clip(x, 0.0, 1.0)
    return x ** 4 * (35.0 - 84.0 * x + 70.0 * x ** 2 - 20.0 * x ** 3)


@dataclass
class HeadBuilder:
    """Mutable builder of the six dense channels; tracks the current posture."""

    rng: np.random.Generator
    times_s: np.ndarray
    channels: np.ndarray  # (N, 6) x, y, z, yaw, pitch, roll
    pose: np.ndarray  # (6,) posture after all events so far
    seated: bool = True
    home_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def step(self, start_s: float, length_s: float, delta: np.ndarray) -> None:
        """Move the posture by ``delta`` (6,) with a smoothstep over [start, start + length]."""
        self.channels += np.outer(smoothstep7((self.times_s - start_s) / length_s), delta)
        self.pose = self.pose + delta

    def oscillate(self, start_s: float, end_s: float, amplitude: np.ndarray, freq_hz: float, phase: float) -> None:
        """Add a sinusoid of ``amplitude`` (6,) windowed smoothly to [start, end]."""
        ramp = min(0.5, (end_s - start_s) / 3.0)
        window = smoothstep7((self.times_s - start_s) / ramp) * (1.0 - smoothstep7((self.times_s - end_s + ramp) / ramp))
        wave = np.sin(2.0 * np.pi * freq_hz * (self.times_s - start_s) + phase) * window
        self.channels += np.outer(wave, amplitude)

    def turn(self, start_s: float, d_yaw: float, d_pitch: float, peak_deg_s: float) -> float:
        """Head turn whose peak angular rate is ``peak_deg_s``; returns its duration."""
        d_pitch = float(np.clip(self.pose[4] + d_pitch, -PITCH_LIMIT, PITCH_LIMIT) - self.pose[4])
        angle = float(np.hypot(d_yaw, d_pitch))
        length = max(0.12, SMOOTHSTEP_PEAK * np.degrees(angle) / peak_deg_s)
        roll = float(np.clip(self.rng.normal(0.0, 0.05), -0.2, 0.2) - 0.5 * self.pose[5])
        self.step(start_s, length, np.array([0, 0, 0, d_yaw, d_pitch, roll]))
        return length


def look_around(b: HeadBuilder, start: float, end: float) -> None:
    """Moderate head turns (30-90 deg/s) around a centre direction with short pauses."""
    t = start
    centre = b.pose[3]
    while t < end - 1.0:
        d_yaw = centre + b.rng.uniform(-1.2, 1.2) - b.pose[3]
        t += b.turn(t, d_yaw, b.rng.uniform(-0.35, 0.35), b.rng.uniform(30.0, 90.0))
        t += b.rng.uniform(0.2, 1.2)


def saccades(b: HeadBuilder, start: float, end: float) -> None:
    """Fast saccade-like turns (150-285 deg/s peak, up to 300 with sway) separated by fixations."""
    t = start
    while t < end - 0.6:
        d_yaw = b.rng.choice([-1.0, 1.0]) * b.rng.uniform(np.radians(20.0), np.radians(80.0))
        t += b.turn(t, d_yaw, b.rng.uniform(-0.2, 0.2), b.rng.uniform(150.0, 285.0))
        t += b.rng.uniform(0.3, 1.0)


def drift(b: HeadBuilder, start: float, end: float) -> None:
    """Slow drifts of a few cm and degrees, alternating with pauses."""
    t = start
    while t < end - 2.0:
        length = b.rng.uniform(1.5, 3.5)
        delta = np.r_[b.rng.normal(0.0, 0.03, 3), b.rng.normal(0.0, 0.1), b.rng.normal(0.0, 0.05), 0.0]
        delta[4] = np.clip(b.pose[4] + delta[4], -PITCH_LIMIT, PITCH_LIMIT) - b.pose[4]
        b.step(t, length, delta)
        t += length + b.rng.uniform(0.5, 2.0)


def stand_or_sit(b: HeadBuilder, start: float, end: float) -> None:
    """Stand up (or sit down): rise 0.45 m with a forward lean; then look around."""
    length = b.rng.uniform(1.2, 2.0)
    sign = 1.0 if b.seated else -1.0
    yaw = b.pose[3]
    forward = 0.15 * np.array([np.cos(yaw), np.sin(yaw)])
    b.step(start, length, np.r_[sign * forward, sign * (STANDING_Z - SEATED_Z), 0.0, 0.0, 0.0])
    lean = np.radians(b.rng.uniform(12.0, 25.0))
    b.step(start, length / 2, np.array([0, 0, 0, 0, lean, 0]))
    b.step(start + length / 2, length / 2, np.array([0, 0, 0, 0, -lean, 0]))
    b.seated = not b.seated
    look_around(b, start + length + 0.3, end)


def walk(b: HeadBuilder, start: float, end: float) -> None:
    """Walk to points within 2.5 m of home at ~1 m/s with 2 Hz head bob; turn toward the goal first."""
    t = start
    while t < end - 2.5:
        goal = b.home_xy + b.rng.uniform(-2.5, 2.5, 2)
        offset = goal - b.pose[:2]
        distance = float(np.linalg.norm(offset))
        if distance < 0.8:
            continue
        heading = np.arctan2(offset[1], offset[0])
        d_yaw = (heading - b.pose[3] + np.pi) % (2 * np.pi) - np.pi
        t += b.turn(t, d_yaw, -b.pose[4] * 0.8, 120.0)
        if end - t < 1.5:
            break
        length = min(distance / b.rng.uniform(0.8, 1.3), end - t)
        b.step(t, length, np.r_[offset * min(1.0, length / (distance / 0.8)), 0, 0, 0, 0])
        perp = np.array([-offset[1], offset[0], 0.0]) / distance
        bob = b.rng.uniform(1.8, 2.2)
        b.oscillate(t, t + length, np.r_[0, 0, b.rng.uniform(0.012, 0.025), 0, 0.015, 0], bob, 0.0)
        b.oscillate(t, t + length, np.r_[perp * b.rng.uniform(0.01, 0.02), 0, 0, 0.02], bob / 2, 0.0)
        t += length + b.rng.uniform(0.3, 1.0)


def sweep(b: HeadBuilder, start: float, end: float) -> None:
    """Translation back and forth along a random direction (5-20 cm, 0.4-1.2 Hz, peak speed at most
    0.6 m/s, as when a handheld device or a leaning head scans a scene) with a few degrees of
    attitude wobble, then a short pause."""
    t = start
    while t < end - 1.5:
        length = min(b.rng.uniform(2.0, 5.0), end - t)
        direction = b.rng.normal(0.0, 1.0, 3)
        amplitude = b.rng.uniform(0.05, 0.20)
        freq = min(b.rng.uniform(0.4, 1.2), 0.6 / (2.0 * np.pi * amplitude))
        wobble = b.rng.normal(0.0, 0.04, 3)
        b.oscillate(t, t + length, np.r_[amplitude * direction / np.linalg.norm(direction), wobble], freq,
                    b.rng.uniform(0.0, 2.0 * np.pi))
        t += length + b.rng.uniform(0.2, 1.0)


def fly(b: HeadBuilder, start: float, end: float) -> None:
    """Multirotor flight to waypoints within 2.5 m of home, 0.7-2.3 m high, each move at a peak speed of
    0.5-2.5 m/s; moves overlap (the next starts before the last ends) or pause. The heading turns to the
    direction of flight on half the moves (peak 90 deg/s) and stays otherwise. Roll and pitch are left
    to ``thrust_attitude``."""
    t = start
    while t < end - 1.5:
        goal = np.r_[b.home_xy + b.rng.uniform(-2.5, 2.5, 2), b.rng.uniform(0.7, 2.3)]
        offset = goal - b.pose[:3]
        distance = float(np.linalg.norm(offset))
        if distance < 0.5:
            continue
        length = max(1.5, SMOOTHSTEP_PEAK * distance / b.rng.uniform(0.5, 2.5))
        if t + length > end:  # shorten the move, not its speed, to end with the segment
            offset *= (end - t) / length
            length = end - t
        if b.rng.random() < 0.5:
            heading = np.arctan2(offset[1], offset[0])
            d_yaw = (heading - b.pose[3] + np.pi) % (2 * np.pi) - np.pi
            b.step(t, max(length, SMOOTHSTEP_PEAK * abs(d_yaw) / DRONE_YAW_RATE), np.r_[0, 0, 0, d_yaw, 0, 0])
        b.step(t, length, np.r_[offset, 0, 0, 0])
        t += length * b.rng.uniform(0.5, 0.9)
        if b.rng.random() < 0.2:
            t += b.rng.uniform(0.3, 1.5)


def hover(b: HeadBuilder, start: float, end: float) -> None:
    """Hover: slow position corrections of about 10 cm and small heading changes."""
    t = start
    while t < end - 1.5:
        length = b.rng.uniform(1.5, 3.0)
        b.step(t, length, np.r_[b.rng.normal(0.0, 0.1, 3), b.rng.normal(0.0, 0.3), 0, 0])
        t += length + b.rng.uniform(0.0, 1.0)


def thrust_attitude(b: HeadBuilder) -> None:
    """Add the roll and pitch that point the body z axis along the thrust (acceleration plus gravity),
    as a multirotor's attitude must follow its acceleration; from the dense channels' acceleration."""
    dt = b.times_s[1] - b.times_s[0]
    accel = np.gradient(np.gradient(b.channels[:, :3], dt, axis=0), dt, axis=0)
    thrust = accel - GRAVITY_WORLD  # the specific force in world axes
    yaw = b.channels[:, 3]
    forward = np.cos(yaw) * thrust[:, 0] + np.sin(yaw) * thrust[:, 1]  # thrust in the heading frame
    left = -np.sin(yaw) * thrust[:, 0] + np.cos(yaw) * thrust[:, 1]
    b.channels[:, 4] += np.arctan2(forward, thrust[:, 2])
    b.channels[:, 5] += np.arctan2(-left, np.hypot(forward, thrust[:, 2]))


Segment = Callable[[HeadBuilder, float, float], None]
PRESETS: dict[str, tuple[bool, tuple[Segment, ...]]] = {
    "seated": (True, (look_around, drift)),
    "standing": (True, (stand_or_sit, look_around, drift)),
    "walking": (False, (walk, look_around)),
    "saccade": (True, (saccades, drift)),
    "drift": (True, (drift,)),
    "sweep": (False, (sweep, sweep, drift)),
    "drone": (False, (fly, fly, hover)),
}
THRUST_ATTITUDE = ("drone",)  # presets whose roll and pitch follow the acceleration (thrust_attitude)
# The position of a name seeds its random stream (procedural_motion): append new presets, never reorder.
MOTION_NAMES = ("seated", "standing", "walking", "saccade", "drift", "head", "sweep", "drone")


def _head_segment(b: HeadBuilder) -> Segment:
    options: list[Segment] = [look_around, saccades, drift, stand_or_sit]
    if not b.seated:
        options += [walk, walk]
    return options[int(b.rng.integers(len(options)))]


def _preset_segment(b: HeadBuilder, name: str, index: int) -> Segment:
    """The segment type of the ``index``-th segment of a preset (``standing`` stands up once, first)."""
    if name == "head":
        return _head_segment(b)
    segments = PRESETS[name][1]
    if name == "standing" and index > 0:
        return segments[1 + index % 2]
    return segments[index % len(segments)]


def _schedule(b: HeadBuilder, name: str, start: float, duration_s: float) -> None:
    """Fill [start, duration] with the preset's segments, 3-8 s each."""
    t = start
    index = 0
    while t < duration_s - 1.0:
        length = min(b.rng.uniform(3.0, 8.0), duration_s - t)
        _preset_segment(b, name, index)(b, t, t + length)
        t += length
        index += 1


def _sway(b: HeadBuilder, start: float, end: float) -> None:
    """Always-on natural sway: a few mm and a fraction of a degree at 0.2-0.7 Hz."""
    for _ in range(3):
        amplitude = np.r_[b.rng.normal(0.0, 0.004, 3), b.rng.normal(0.0, 0.006, 3)]
        b.oscillate(start, end, amplitude, b.rng.uniform(0.2, 0.7), b.rng.uniform(0, 2 * np.pi))


def procedural_motion(name: str, duration_s: float, seed: int, *, rest_s: float = 1.0) -> MotionSpline:
    """A procedural motion preset (head motion, or ``sweep`` / ``drone``) as a spline.

    Args:
        name: one of ``MOTION_NAMES``.
        duration_s: length of the motion, s (> rest_s).
        seed: random seed; the same seed gives the same motion.
        rest_s: initial period at exact rest, s.

    Raises:
        ConfigError: unknown preset or a too short duration.
    """
    if name not in MOTION_NAMES:
        raise ConfigError(f"unknown motion '{name}'; choose one of {list(MOTION_NAMES)}")
    if not duration_s > rest_s + 0.5:
        raise ConfigError(f"motion duration {duration_s} s must exceed the {rest_s} s rest by 0.5 s")
    rng = np.random.default_rng([seed, MOTION_NAMES.index(name)])
    times = np.arange(0.0, duration_s + 1e-9, 1.0 / SAMPLE_RATE_HZ)
    seated = PRESETS[name][0] if name != "head" else bool(rng.integers(2))
    pose = np.array([0.0, 0.0, SEATED_Z if seated else STANDING_Z, rng.uniform(-np.pi, np.pi), 0.0, 0.0])
    builder = HeadBuilder(rng, times, np.tile(pose, (len(times), 1)), pose.copy(), seated)
    _sway(builder, rest_s, duration_s + 2.0)
    _schedule(builder, name, rest_s, duration_s)
    if name in THRUST_ATTITUDE:
        thrust_attitude(builder)
    return MotionSpline.from_samples(times, builder.channels[:, :3], builder.channels[:, 3:])
