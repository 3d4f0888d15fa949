"""What the bag player publishes when: ROS-free, so it is tested without DDS.

A bag's messages come out in log-time order as ROS 2 CDR bytes (ROS 1 ``.bag``
messages are converted through the rosbags typestore), and :func:`schedule`
gives each the wall-clock offset from the start of playback at which to send it:
``delay + (log_time - first_log_time) / rate``, continuing lap after lap with
``loop``. :func:`sim_time_ns` interpolates the bag time between two messages,
for ``/clock``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.convert.converter import migrate_message
from rosbags.interfaces import QosDurability

from arvr_hybrid_vio.io.bags import BagError, open_bag, typestore

LATCHED_TOPICS = frozenset({"/tf_static"})
_NS_PER_S = 1e9


@dataclass(frozen=True)
class TopicPlan:
    """A topic the player publishes: name, ROS 2 type, latched (transient-local) or not, message count."""

    topic: str
    msgtype: str
    latched: bool
    count: int


@dataclass(frozen=True)
class PlayMessage:
    """One message ready to publish: topic, bag log time (ns) and ROS 2 CDR bytes."""

    topic: str
    log_time_ns: int
    cdr: bytes


@dataclass(frozen=True)
class Scheduled:
    """A message with its publish time: seconds after playback start, and its lap (0, 1, ...)."""

    offset_s: float
    lap: int
    message: PlayMessage


def read_topic_plans(path: str | Path, topics: Sequence[str] | None = None) -> list[TopicPlan]:
    """The topics to play, with types, latching and message counts.

    Raises:
        BagError: the bag is missing or corrupt, or a requested topic is not in it.
    """
    with open_bag(path) as reader:
        available = sorted({c.topic for c in reader.connections})
        missing = sorted(set(topics or ()) - set(available))
        if missing:
            raise BagError(f"{path}: topic(s) {missing} not in bag; it has {available}")
        plans: dict[str, TopicPlan] = {}
        for connection in reader.connections:
            if topics and connection.topic not in topics:
                continue
            previous = plans.get(connection.topic)
            count = connection.msgcount + (previous.count if previous else 0)
            plans[connection.topic] = TopicPlan(connection.topic, connection.msgtype,
                                                _is_latched(connection), count)
    return list(plans.values())


def _is_latched(connection: Any) -> bool:
    """rosbag2: transient-local offered QoS; ROS 1: the latching flag; any bag: /tf_static."""
    if connection.topic in LATCHED_TOPICS:
        return True
    profiles = getattr(connection.ext, "offered_qos_profiles", None) or []
    if any(profile.durability == QosDurability.TRANSIENT_LOCAL for profile in profiles):
        return True
    return bool(getattr(connection.ext, "latching", 0))


def iter_cdr_messages(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[PlayMessage]:
    """Messages of ``topics`` (all if None) in log-time order, as ROS 2 CDR bytes.

    Raises:
        BagError: the bag cannot be read, or a ROS 1 message has no ROS 2 counterpart.
    """
    with open_bag(path) as reader:
        connections = [c for c in reader.connections if not topics or c.topic in topics]
        convert = _identity if reader.is2 else _Ros1ToCdr(reader.typestore, path)
        try:
            for connection, log_time_ns, rawdata in reader.messages(connections=connections):
                yield PlayMessage(connection.topic, int(log_time_ns), convert(rawdata, connection.msgtype))
        except BagError:
            raise
        except Exception as exc:  # rosbags raises several unrelated types for damaged data
            raise BagError(f"{path}: cannot read messages ({type(exc).__name__}: {exc})") from exc


def _identity(rawdata: bytes, _msgtype: str) -> bytes:
    return bytes(rawdata)


class _Ros1ToCdr:
    """ROS 1 serialisation -> ROS 2 CDR: deserialise with the bag's types, migrate to Kilted's, serialise."""

    def __init__(self, source_typestore: Any, path: str | Path) -> None:
        self._source = source_typestore
        self._path = path
        self._cache: dict[str, object] = {}

    def __call__(self, rawdata: bytes, msgtype: str) -> bytes:
        target = typestore()
        if msgtype not in target.types:
            raise BagError(f"{self._path}: ROS 1 type {msgtype} has no ROS 2 counterpart to publish")
        message = self._source.deserialize_ros1(rawdata, msgtype)
        migrated = migrate_message(self._source, target, msgtype, msgtype, self._cache, message)
        return bytes(target.serialize_cdr(migrated, msgtype))


def schedule(laps: Callable[[], Iterable[PlayMessage]], *, rate: float = 1.0, delay_s: float = 0.0,
             loop: bool = False) -> Iterator[Scheduled]:
    """Publish offsets (seconds after playback start) of the messages of one or more laps.

    Args:
        laps: called once per lap; returns the lap's messages in log-time order.
        rate: playback speed factor (2.0 plays twice as fast).
        delay_s: wall seconds before the first message.
        loop: start another lap after each one, forever (the caller stops iterating).

    Raises:
        ValueError: ``rate`` is not positive or ``delay_s`` is negative.
    """
    if not rate > 0.0 or delay_s < 0.0:
        raise ValueError(f"rate must be > 0 and delay >= 0 (got rate={rate}, delay={delay_s})")
    lap_start_s, lap = delay_s, 0
    while True:
        first_ns, offset_s = None, lap_start_s
        for message in laps():
            first_ns = message.log_time_ns if first_ns is None else first_ns
            offset_s = lap_start_s + (message.log_time_ns - first_ns) / _NS_PER_S / rate
            yield Scheduled(offset_s, lap, message)
        if not loop or first_ns is None:
            return
        lap_start_s, lap = offset_s, lap + 1


def sim_time_ns(previous: Scheduled | None, upcoming: Scheduled, elapsed_s: float, *, rate: float) -> int:
    """Bag time to publish on ``/clock`` at ``elapsed_s`` while waiting for ``upcoming``.

    Bag time advances at ``rate`` from the previous message of the same lap and never
    passes the upcoming message's log time; before a lap's first message it is that time.
    """
    if previous is None or previous.lap != upcoming.lap:
        return upcoming.message.log_time_ns
    advanced = previous.message.log_time_ns + int((elapsed_s - previous.offset_s) * rate * _NS_PER_S)
    return max(previous.message.log_time_ns, min(advanced, upcoming.message.log_time_ns))
