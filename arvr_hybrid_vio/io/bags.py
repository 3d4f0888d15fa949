"""Read and write bags with rosbags: rosbag2 folders, ``.db3``, ``.mcap`` and ROS 1 ``.bag``.

Messages come back as rosbags dataclasses (field names as in the .msg files);
raw CDR bytes are available too, for the player to publish without conversion.
Writing goes to a temporary name and is renamed at the end, so no partial bag
is ever left behind.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arvr_hybrid_vio.core.errors import VioError

if TYPE_CHECKING:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys.store import Typestore

# rosbags is imported where a bag is opened or written, not with this module: arvr-vio-infer's main
# process needs only resolve_bag_path and BagError from here, and its bag reader (a child process)
# imports rosbags while the main process loads the model (docs/performance_history.md, "arvr-vio-infer shares the tracking")


class BagError(VioError):
    """A bag is missing, corrupt, or lacks what was asked of it."""


_TYPESTORE: Typestore | None = None


def typestore() -> Typestore:
    """The ROS 2 Kilted typestore (standard messages, tf2_msgs included)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore
        _TYPESTORE = get_typestore(Stores.ROS2_KILTED)
    return _TYPESTORE


def _transient_local_qos() -> object:
    """The offered QoS of a latched topic (/tf_static), as rosbag2 records it."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    return Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
               durability=QosDurability.TRANSIENT_LOCAL, deadline=QosTime(0, 0), lifespan=QosTime(0, 0),
               liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=QosTime(0, 0),
               avoid_ros_namespace_conventions=False)


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: its topic, type, receive stamp (ns), raw bytes and decoder."""

    topic: str
    msgtype: str
    log_time_ns: int
    rawdata: bytes
    _reader: Any

    def decode(self) -> Any:
        """The message as a rosbags dataclass (CDR for ROS 2 bags, ROS 1 serialisation for .bag)."""
        return self._reader.deserialize(self.rawdata, self.msgtype)


def resolve_bag_path(path: str | Path) -> Path:
    """A rosbag2 folder for a ``.db3``/``.mcap`` file inside one; other paths unchanged.

    Raises:
        BagError: the path does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag (expected a rosbag2 folder, .db3, .mcap or ROS 1 .bag)")
    if path.is_file() and path.suffix in (".db3", ".mcap") and (path.parent / "metadata.yaml").exists():
        return path.parent
    return path


@contextmanager
def open_bag(path: str | Path) -> Iterator[AnyReader]:
    """Open any bag for reading with rosbags' AnyReader.

    Raises:
        BagError: missing or unreadable bag, with the file named.
    """
    from rosbags.highlevel import AnyReader, AnyReaderError
    resolved = resolve_bag_path(path)
    try:
        try:  # the bag's own message definitions (ROS 1, rosbag2 since Iron, ours), without building ours
            reader = AnyReader([resolved])
            reader.open()
        except AnyReaderError:  # none in the bag (e.g. a Humble rosbag2): the standard ones, ROS 2 Kilted's
            reader = AnyReader([resolved], default_typestore=typestore())
            reader.open()
    except BagError:
        raise
    except Exception as exc:  # rosbags raises several unrelated types for corrupt files
        raise BagError(f"{path}: cannot open bag ({type(exc).__name__}: {exc})") from exc
    try:
        yield reader
    finally:
        reader.close()


def topic_types(path: str | Path) -> dict[str, str]:
    """Mapping of topic name to message type of a bag."""
    with open_bag(path) as reader:
        return reader_topic_types(reader)


def reader_topic_types(reader: AnyReader) -> dict[str, str]:
    """:func:`topic_types` of a bag already open."""
    return {c.topic: c.msgtype for c in reader.connections}


def iter_messages(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[BagMessage]:
    """Messages of ``topics`` (all if None) in log-time order.

    Raises:
        BagError: a requested topic is not in the bag, or the bag is corrupt.
    """
    with open_bag(path) as reader:
        yield from read_messages(reader, topics, path=path)


def read_messages(reader: AnyReader, topics: Sequence[str] | None = None, *,
                  path: str | Path = "bag") -> Iterator[BagMessage]:
    """:func:`iter_messages` of a bag already open (``open_bag``), to read it more than once without
    opening it again (each open builds the bag's type store: ~30 ms). ``path`` names it in errors.

    Raises:
        BagError: a requested topic is not in the bag, or the bag is corrupt.
    """
    available = {c.topic for c in reader.connections}
    missing = sorted(set(topics or ()) - available)
    if missing:
        raise BagError(f"{path}: topic(s) {missing} not in bag; it has {sorted(available)}")
    connections = [c for c in reader.connections if topics is None or c.topic in topics]
    try:
        for connection, log_time_ns, rawdata in reader.messages(connections=connections):
            yield BagMessage(connection.topic, connection.msgtype, int(log_time_ns), bytes(rawdata), reader)
    except BagError:
        raise
    except Exception as exc:
        raise BagError(f"{path}: cannot read messages ({type(exc).__name__}: {exc})") from exc


class BagWriter:
    """Write a rosbag2 (sqlite3 or mcap) under a temporary name; rename on success.

    Usage::

        with BagWriter(out_path, storage="mcap") as bag:
            bag.add_topic("/imu0", "sensor_msgs/msg/Imu")
            bag.write("/imu0", stamp_ns, imu_msg)      # a rosbags dataclass
    """

    def __init__(self, path: str | Path, *, storage: str = "sqlite3", overwrite: bool = True) -> None:
        self.path = Path(path)
        if storage not in ("sqlite3", "mcap"):
            raise BagError(f"{path}: unknown storage '{storage}' (use sqlite3 or mcap)")
        if self.path.exists() and not overwrite:
            raise BagError(f"{path}: already exists")
        self._tmp = self.path.with_name(self.path.name + ".partial")
        from rosbags.rosbag2 import StoragePlugin, Writer
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._writer = Writer(self._tmp, version=9, storage_plugin=plugin)
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def add_topic(self, topic: str, msgtype: str, *, latched: bool = False) -> None:
        """Register a topic; ``latched`` records transient-local QoS (e.g. /tf_static)."""
        qos = (_transient_local_qos(),) if latched else ()
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore(), offered_qos_profiles=qos)

    def write(self, topic: str, stamp_ns: int, message: Any) -> None:
        """Serialise a rosbags dataclass to CDR and append it at ``stamp_ns``."""
        connection = self._connections[topic]
        self._writer.write(connection, int(stamp_ns), typestore().serialize_cdr(message, connection.msgtype))

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._writer.close()
        if exc_type is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        shutil.rmtree(self.path, ignore_errors=True)
        self._tmp.rename(self.path)
        _rename_storage_files(self.path, self._tmp.name)


def _rename_storage_files(folder: Path, old_stem: str) -> None:
    """rosbags names the storage file after the folder; follow the rename in files and metadata."""
    metadata = folder / "metadata.yaml"
    for storage_file in folder.iterdir():
        if storage_file.name.startswith(old_stem):
            storage_file.rename(folder / storage_file.name.replace(old_stem, folder.name, 1))
    metadata.write_text(metadata.read_text().replace(old_stem, folder.name))
