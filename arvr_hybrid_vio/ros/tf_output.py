"""Publish TF: tf2_ros broadcasters when importable, else TFMessage publishers.

A ROS install has ``tf2_ros``; the PyPI wheels do not, so the fallback publishes
``tf2_msgs/TFMessage`` on ``/tf`` (reliable, keep last 100) and on ``/tf_static``
(transient-local, so late subscribers still receive it) exactly as tf2_ros does.
Static transforms accumulate: every send republishes all static transforms
known so far, keyed by child frame, like ``StaticTransformBroadcaster``.
"""
from __future__ import annotations

from collections.abc import Iterable

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from tf2_msgs.msg import TFMessage

from arvr_hybrid_vio.ros.qos import TF_QOS, TF_STATIC_QOS

try:  # tf2_ros ships with ROS installs, not with the PyPI wheels.
    from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster
except ImportError:  # pragma: no cover - depends on the install
    StaticTransformBroadcaster = None
    TransformBroadcaster = None


class TfOutput:
    """Send dynamic and static transforms from one node.

    Args:
        node: the node that owns the publishers.
        use_tf2_ros: use tf2_ros broadcasters when importable (default); False forces the
            TFMessage publishers.
    """

    def __init__(self, node: Node, *, use_tf2_ros: bool = True) -> None:
        self.uses_tf2_ros = use_tf2_ros and TransformBroadcaster is not None
        self._static: dict[str, TransformStamped] = {}
        if self.uses_tf2_ros:  # pragma: no cover - needs tf2_ros
            self._dynamic_broadcaster = TransformBroadcaster(node)
            self._static_broadcaster = StaticTransformBroadcaster(node)
        else:
            self._tf_publisher = node.create_publisher(TFMessage, "/tf", TF_QOS)
            self._static_publisher = node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)

    def send(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        """Publish transforms on ``/tf``."""
        batch = _as_list(transforms)
        if self.uses_tf2_ros:  # pragma: no cover - needs tf2_ros
            self._dynamic_broadcaster.sendTransform(batch)
        else:
            self._tf_publisher.publish(TFMessage(transforms=batch))

    def send_static(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        """Publish transforms on ``/tf_static``, together with every static transform sent before."""
        batch = _as_list(transforms)
        if self.uses_tf2_ros:  # pragma: no cover - needs tf2_ros
            self._static_broadcaster.sendTransform(batch)
            return
        for transform in batch:
            self._static[transform.child_frame_id] = transform
        self._static_publisher.publish(TFMessage(transforms=list(self._static.values())))


def _as_list(transforms: TransformStamped | Iterable[TransformStamped]) -> list[TransformStamped]:
    if isinstance(transforms, TransformStamped):
        return [transforms]
    return list(transforms)
