"""The camera + IMU bag layout shared by synthesis, EuRoC import and the dataset recipe.

Topics (header stamps = log times, int64 ns):

- ``/cam0/image_raw``     sensor_msgs/Image mono8, frame ``cam0`` (REP-103 optical frame); or, with
  ``image_format`` png/jpeg, ``/cam0/image_raw/compressed`` sensor_msgs/CompressedImage (the topic and
  ``format`` string that ROS's ``compressed_image_transport`` uses)
- ``/cam0/camera_info``   sensor_msgs/CameraInfo (plumb_bob), one per image
- ``/imu0``               sensor_msgs/Imu, frame ``imu0`` (no orientation: covariance[0] = -1)
- ``/ground_truth/pose``  geometry_msgs/PoseStamped, the IMU/body frame in ``world``, IMU rate
- ``/tf_static``          tf2_msgs/TFMessage, latched: ``base_link -> cam0`` and ``base_link -> imu0``

``base_link`` is the body frame, which is the IMU frame (``base_link -> imu0`` is identity).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from arvr_hybrid_vio.core.geometry import matrix_to_quat_wxyz
from arvr_hybrid_vio.io.bags import BagWriter, typestore
from arvr_hybrid_vio.io.image_messages import COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, compressed_topic

IMAGE_TOPIC = "/cam0/image_raw"
# image_format -> (OpenCV's file suffix, encoding parameters): PNG lossless, JPEG at image_transport's default quality
IMAGE_CODECS: dict[str, tuple[str, list[int]]] = {"png": (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]),
                                                  "jpeg": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])}
IMAGE_FORMATS = ("raw", *IMAGE_CODECS)  # write_sensor_bag's image_format
CAMERA_INFO_TOPIC = "/cam0/camera_info"
IMU_TOPIC = "/imu0"
GT_TOPIC = "/ground_truth/pose"
TF_STATIC_TOPIC = "/tf_static"
BODY_FRAME = "base_link"
CAMERA_FRAME = "cam0"
IMU_FRAME = "imu0"
WORLD_FRAME = "world"


@dataclass(frozen=True)
class SensorStreams:
    """Everything a layout bag holds, as arrays (ground truth optional)."""

    image_stamps_ns: np.ndarray  # (F,) int64
    images: Any  # (F, H, W) uint8 array, or a sequence of such images (e.g. lazily loaded)
    imu_stamps_ns: np.ndarray  # (M,) int64
    gyro: np.ndarray  # (M, 3) rad/s
    accel: np.ndarray  # (M, 3) m/s^2
    intrinsics: np.ndarray  # (3, 3) K
    distortion: np.ndarray  # (4,) radtan k1 k2 p1 p2
    T_body_cam: np.ndarray  # (4, 4)
    image_size: tuple[int, int]  # (width, height)
    gt_stamps_ns: np.ndarray | None = None  # (G,) int64
    gt_positions_xyz: np.ndarray | None = None  # (G, 3)
    gt_quats_wxyz: np.ndarray | None = None  # (G, 4)
    gyro_noise_density: float = 1.7e-4  # for the Imu covariance, rad/s/sqrt(Hz)
    accel_noise_density: float = 2.0e-3  # m/s^2/sqrt(Hz)


def _types() -> Any:
    return typestore().types


def _header(stamp_ns: int, frame_id: str) -> Any:
    types = _types()
    stamp = types["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 10**9), nanosec=int(stamp_ns % 10**9))
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def _vector3(xyz: np.ndarray) -> Any:
    return _types()["geometry_msgs/msg/Vector3"](x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def _quaternion(quat_wxyz: np.ndarray) -> Any:
    w, x, y, z = (float(v) for v in quat_wxyz)
    return _types()["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)


def image_message(stamp_ns: int, image: np.ndarray) -> Any:
    """sensor_msgs/Image mono8 of an (H, W) uint8 array."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    return _types()[IMAGE_TYPE](
        header=_header(stamp_ns, CAMERA_FRAME), height=height, width=width, encoding="mono8", is_bigendian=0,
        step=width, data=image.reshape(-1))


def compressed_image_message(stamp_ns: int, image: np.ndarray, image_format: str) -> Any:
    """sensor_msgs/CompressedImage of an (H, W) uint8 array, ``image_format`` png or jpeg."""
    suffix, parameters = IMAGE_CODECS[image_format]
    encoded, data = cv2.imencode(suffix, np.ascontiguousarray(image, dtype=np.uint8), parameters)
    if not encoded:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {image_format}")
    return _types()[COMPRESSED_IMAGE_TYPE](
        header=_header(stamp_ns, CAMERA_FRAME), format=f"mono8; {image_format} compressed ", data=data.reshape(-1))


def camera_info_message(stamp_ns: int, streams: SensorStreams) -> Any:
    """sensor_msgs/CameraInfo (plumb_bob) of the camera calibration."""
    types = _types()
    width, height = streams.image_size
    k = np.asarray(streams.intrinsics, dtype=np.float64)
    projection = np.hstack([k, np.zeros((3, 1))])
    roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns, CAMERA_FRAME), height=height, width=width, distortion_model="plumb_bob",
        d=np.r_[np.asarray(streams.distortion, dtype=np.float64), 0.0], k=k.reshape(-1), r=np.eye(3).reshape(-1),
        p=projection.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def imu_message(stamp_ns: int, gyro: np.ndarray, accel: np.ndarray, *, gyro_var: float, accel_var: float) -> Any:
    """sensor_msgs/Imu without orientation."""
    orientation_cov = np.zeros(9)
    orientation_cov[0] = -1.0
    return _types()["sensor_msgs/msg/Imu"](
        header=_header(stamp_ns, IMU_FRAME), orientation=_quaternion(np.array([1.0, 0, 0, 0])),
        orientation_covariance=orientation_cov, angular_velocity=_vector3(gyro),
        angular_velocity_covariance=(np.eye(3) * gyro_var).reshape(-1), linear_acceleration=_vector3(accel),
        linear_acceleration_covariance=(np.eye(3) * accel_var).reshape(-1))


def pose_message(stamp_ns: int, position_xyz: np.ndarray, quat_wxyz: np.ndarray) -> Any:
    """geometry_msgs/PoseStamped of the body in ``world``."""
    types = _types()
    point = types["geometry_msgs/msg/Point"](x=float(position_xyz[0]), y=float(position_xyz[1]), z=float(position_xyz[2]))
    pose = types["geometry_msgs/msg/Pose"](position=point, orientation=_quaternion(quat_wxyz))
    return types["geometry_msgs/msg/PoseStamped"](header=_header(stamp_ns, WORLD_FRAME), pose=pose)


def tf_static_message(stamp_ns: int, T_body_cam: np.ndarray) -> Any:
    """tf2_msgs/TFMessage with base_link -> cam0 and base_link -> imu0 (identity)."""
    types = _types()

    def transform(child: str, matrix: np.ndarray) -> Any:
        tf = types["geometry_msgs/msg/Transform"](translation=_vector3(matrix[:3, 3]),
                                                  rotation=_quaternion(matrix_to_quat_wxyz(matrix[:3, :3])))
        return types["geometry_msgs/msg/TransformStamped"](header=_header(stamp_ns, BODY_FRAME),
                                                           child_frame_id=child, transform=tf)
    return types["tf2_msgs/msg/TFMessage"](transforms=[transform(CAMERA_FRAME, T_body_cam),
                                                       transform(IMU_FRAME, np.eye(4))])


def _merged_order(streams: SensorStreams) -> Iterator[tuple[int, str, int]]:
    """(stamp, kind, index) of every image, IMU and ground-truth sample in time order."""
    events = [(int(s), 1, "imu", i) for i, s in enumerate(streams.imu_stamps_ns)]
    if streams.gt_stamps_ns is not None:
        events += [(int(s), 2, "gt", i) for i, s in enumerate(streams.gt_stamps_ns)]
    events += [(int(s), 0, "image", i) for i, s in enumerate(streams.image_stamps_ns)]
    for stamp, _, kind, index in sorted(events):
        yield stamp, kind, index


def write_sensor_bag(path: str | Path, streams: SensorStreams, *, storage: str = "sqlite3",
                     progress: Callable[[int, int], None] | None = None, image_format: str = "raw") -> Path:
    """Write the layout bag atomically (BagWriter writes ``<path>.partial`` and renames).

    ``progress(done, total)`` is called after each image. ``image_format``: ``raw`` (sensor_msgs/Image on
    ``IMAGE_TOPIC``), or ``png`` / ``jpeg`` (sensor_msgs/CompressedImage on ``IMAGE_TOPIC/compressed``).
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    image_topic = image_topic_of(image_format)
    has_gt = streams.gt_stamps_ns is not None
    rate = 1e9 / max(float(np.median(np.diff(streams.imu_stamps_ns))), 1.0) if len(streams.imu_stamps_ns) > 1 else 200.0
    gyro_var, accel_var = streams.gyro_noise_density ** 2 * rate, streams.accel_noise_density ** 2 * rate
    first = int(min(streams.image_stamps_ns[0], streams.imu_stamps_ns[0]))
    with BagWriter(path, storage=storage) as bag:
        _add_topics(bag, has_gt, image_topic)
        bag.write(TF_STATIC_TOPIC, first, tf_static_message(first, streams.T_body_cam))
        images_done = 0
        for stamp, kind, index in _merged_order(streams):
            if kind == "imu":
                bag.write(IMU_TOPIC, stamp, imu_message(stamp, streams.gyro[index], streams.accel[index],
                                                         gyro_var=gyro_var, accel_var=accel_var))
            elif kind == "gt":
                bag.write(GT_TOPIC, stamp, pose_message(stamp, streams.gt_positions_xyz[index],
                                                        streams.gt_quats_wxyz[index]))
            else:
                image = streams.images[index]
                bag.write(image_topic, stamp, image_message(stamp, image) if image_format == "raw"
                          else compressed_image_message(stamp, image, image_format))
                bag.write(CAMERA_INFO_TOPIC, stamp, camera_info_message(stamp, streams))
                images_done += 1
                if progress is not None:
                    progress(images_done, len(streams.image_stamps_ns))
    return Path(path)


def image_topic_of(image_format: str) -> str:
    """The camera topic of a layout bag written with ``image_format``."""
    return IMAGE_TOPIC if image_format == "raw" else compressed_topic(IMAGE_TOPIC)


def _add_topics(bag: BagWriter, has_gt: bool, image_topic: str) -> None:
    bag.add_topic(TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage", latched=True)
    bag.add_topic(image_topic, IMAGE_TYPE if image_topic == IMAGE_TOPIC else COMPRESSED_IMAGE_TYPE)
    bag.add_topic(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
    bag.add_topic(IMU_TOPIC, "sensor_msgs/msg/Imu")
    if has_gt:
        bag.add_topic(GT_TOPIC, "geometry_msgs/msg/PoseStamped")


def streams_from_sequence(sequence: Any) -> SensorStreams:
    """SensorStreams of a SynthSequence (measured IMU, ground truth at IMU rate)."""
    config = sequence.config
    return SensorStreams(
        image_stamps_ns=sequence.image_stamps_ns, images=sequence.images, imu_stamps_ns=sequence.imu_stamps_ns,
        gyro=sequence.gyro, accel=sequence.accel, intrinsics=sequence.intrinsics, distortion=sequence.distortion,
        T_body_cam=sequence.T_body_cam, image_size=(config.camera.width, config.camera.height),
        gt_stamps_ns=sequence.imu_stamps_ns, gt_positions_xyz=sequence.gt_positions_xyz,
        gt_quats_wxyz=sequence.gt_quats_wxyz, gyro_noise_density=config.imu.gyro_noise_density,
        accel_noise_density=config.imu.accel_noise_density)
