"""The three fields of a serialised sensor_msgs/msg/Imu that the estimator uses, read straight from its CDR bytes.

``arvr-vio-infer`` reads thousands of IMU messages a minute of bag. rosbags' generic deserialiser builds
the whole message for each (header, quaternion, vectors and three covariance arrays: about 12 us here);
the estimator needs only the stamp, the angular velocity and the linear acceleration, which sit at fixed
offsets once the header's frame id is skipped (about 2 us). Anything this does not recognise as a
little-endian plain-CDR Imu of the standard layout (big-endian or XCDR2 encapsulation, another length)
gets None, and the caller decodes the message with rosbags as before, so the values are the same either
way (tested against rosbags over every alignment of the frame id).
"""
from __future__ import annotations

import struct

_CDR_LITTLE_ENDIAN = b"\x00\x01"  # encapsulation: plain CDR, little endian (what rosbag2 records)
_HEADER = struct.Struct("<iII")  # stamp.sec (int32), stamp.nanosec (uint32), frame_id length (uint32, with its NUL)
_VECTOR = struct.Struct("<3d")
# after the frame id, aligned to 8: orientation (4 doubles), its covariance (9), angular_velocity (3),
# its covariance (9), linear_acceleration (3), its covariance (9)
_ANGULAR_VELOCITY, _LINEAR_ACCELERATION, _BODY = 13 * 8, 25 * 8, 37 * 8
_PAD_ALLOWED = 3  # trailing bytes a CDR message may carry (rosbags accepts as many)


def imu_sample(rawdata: bytes) -> tuple[int, tuple[float, float, float], tuple[float, float, float]] | None:
    """(stamp ns, angular velocity xyz rad/s, linear acceleration xyz m/s^2) of a CDR-serialised Imu
    message (rosbag2's bytes, 4-byte encapsulation header first), or None where the bytes are not a
    little-endian plain-CDR Imu of the standard layout (decode those with rosbags)."""
    if len(rawdata) < 4 + _HEADER.size or rawdata[:2] != _CDR_LITTLE_ENDIAN:
        return None
    sec, nanosec, id_length = _HEADER.unpack_from(rawdata, 4)
    body = (_HEADER.size + id_length + 7) & ~7  # offset of the orientation in the data (after the header)
    if not 0 <= len(rawdata) - 4 - (body + _BODY) <= _PAD_ALLOWED:
        return None
    start = 4 + body
    return (sec * 1_000_000_000 + nanosec, _VECTOR.unpack_from(rawdata, start + _ANGULAR_VELOCITY),
            _VECTOR.unpack_from(rawdata, start + _LINEAR_ACCELERATION))
