"""Trajectories from bag topics (all pose types, TF chains) written with io.bags.BagWriter."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import header_msg, pose_msg, make_trajectory, noisy, write_eval_bag
from rosbags.highlevel import AnyReader, AnyReaderError

from arvr_hybrid_vio.core.errors import TrajectoryError
from arvr_hybrid_vio.core.geometry import se3_inverse
from arvr_hybrid_vio.io.bags import BagError, BagWriter, typestore
from arvr_hybrid_vio.io.trajectory_bags import load_trajectory, read_bag_trajectory

TF_EXAMPLE = Path(__file__).parents[1] / "data" / "bags" / "tf_example"


@pytest.fixture(scope="module")
def eval_bag(tmp_path_factory):  # noqa: ANN201
    gt = make_trajectory(120)
    est = noisy(gt.subset(np.arange(0, 120, 4)), sigma_m=0.01, sigma_rad=0.01, seed=3)
    path = write_eval_bag(tmp_path_factory.mktemp("bags") / "eval_bag", gt, est)
    return path, gt, est


@pytest.mark.parametrize("topic", ["/vio/odometry", "/vio/pose_cov", "/vio/transform"])
def test_estimate_pose_types_use_header_stamps(eval_bag, topic: str) -> None:
    path, _, est = eval_bag
    trajectory = read_bag_trajectory(path, topic=topic)
    np.testing.assert_array_equal(trajectory.stamps_ns, est.stamps_ns)  # not the log times (+3 ms)
    np.testing.assert_allclose(trajectory.positions_xyz, est.positions_xyz, atol=1e-12)
    np.testing.assert_allclose(trajectory.poses_se3(), est.poses_se3(), atol=1e-12)
    assert trajectory.source == f"{path}:{topic}"


def test_pose_stamped_ground_truth(eval_bag) -> None:
    path, gt, _ = eval_bag
    trajectory = load_trajectory(path, topic="/ground_truth/pose")
    np.testing.assert_array_equal(trajectory.stamps_ns, gt.stamps_ns)
    np.testing.assert_allclose(trajectory.poses_se3(), gt.poses_se3(), atol=1e-12)


def test_tf_chain_through_intermediate_frames(eval_bag) -> None:
    path, gt, _ = eval_bag  # world -(static)- map -(dynamic)- base_link -(static)- imu
    chain = read_bag_trajectory(path, topic="/tf", parent_frame="world", child_frame="imu")
    np.testing.assert_array_equal(chain.stamps_ns, gt.stamps_ns)
    np.testing.assert_allclose(chain.poses_se3(), gt.poses_se3(), atol=1e-9)
    reverse = load_trajectory(path, parent_frame="imu", child_frame="world")
    np.testing.assert_allclose(reverse.poses_se3(), se3_inverse(gt.poses_se3()), atol=1e-9)


def test_real_tf_bag_chain() -> None:
    chain = read_bag_trajectory(TF_EXAMPLE, topic="/tf", parent_frame="odom", child_frame="base_link")
    assert len(chain) == 517
    assert chain.stamps_ns[0] == 1714741164_177519307  # header stamp of the first odom->base_footprint
    assert 3.9 < chain.path_length() < 4.1


def test_a_bag_without_message_definitions_reads_with_the_standard_types(tmp_path) -> None:
    """A rosbag2 that carries no message definitions (Humble's sqlite, for one) is read with ROS 2's
    standard types; bags that carry them are read with their own, without building the standard set."""
    humble = tmp_path / "tf_example_humble"
    shutil.copytree(TF_EXAMPLE, humble)
    with sqlite3.connect(humble / "tf_example.db3") as db:
        db.execute("DELETE FROM message_definitions")
    with pytest.raises(AnyReaderError, match="no type definitions"):  # rosbags alone: nothing to decode with
        AnyReader([humble]).open()
    chain = read_bag_trajectory(humble, topic="/tf", parent_frame="odom", child_frame="base_link")
    original = read_bag_trajectory(TF_EXAMPLE, topic="/tf", parent_frame="odom", child_frame="base_link")
    np.testing.assert_array_equal(chain.stamps_ns, original.stamps_ns)
    np.testing.assert_array_equal(chain.positions_xyz, original.positions_xyz)


def test_mcap_storage(tmp_path) -> None:
    gt = make_trajectory(30)
    path = write_eval_bag(tmp_path / "mcap_bag", gt, gt, storage="mcap")
    trajectory = load_trajectory(next(path.glob("*.mcap")), topic="/vio/odometry")
    np.testing.assert_array_equal(trajectory.stamps_ns, gt.stamps_ns)


def test_bag_errors_name_bag_and_topic(eval_bag) -> None:
    path, _, _ = eval_bag
    with pytest.raises(BagError, match=r"topic '/nope' not in bag"):
        read_bag_trajectory(path, topic="/nope")
    with pytest.raises(TrajectoryError, match=r"eval_bag:/tf: a TF topic needs a parent and a child frame"):
        read_bag_trajectory(path, topic="/tf")
    with pytest.raises(BagError, match="pick a topic"):
        load_trajectory(path)
    with pytest.raises(TrajectoryError, match=r"no TF chain from 'world' to 'camera'"):
        read_bag_trajectory(path, topic="/tf", parent_frame="world", child_frame="camera")
    with pytest.raises(TrajectoryError, match="only static transforms"):
        read_bag_trajectory(path, topic="/tf", parent_frame="world", child_frame="map")


def test_decreasing_header_stamps_rejected(tmp_path) -> None:
    types = typestore().types
    path = tmp_path / "backwards"
    with BagWriter(path) as bag:
        bag.add_topic("/pose", "geometry_msgs/msg/PoseStamped")
        for k, stamp in enumerate([3_000_000_000, 2_000_000_000, 4_000_000_000]):
            message = types["geometry_msgs/msg/PoseStamped"](header=header_msg(stamp, "world"),
                                                             pose=pose_msg(np.zeros(3), np.array([1.0, 0, 0, 0])))
            bag.write("/pose", 10**9 * (k + 1), message)
    with pytest.raises(TrajectoryError, match=r"backwards:/pose: stamps are not strictly increasing at pose 1"):
        load_trajectory(path)  # the only pose topic is picked without --topic


def test_ros1_bag(tmp_path) -> None:
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    types = store.types
    gt = make_trajectory(20)
    path = tmp_path / "poses.bag"
    with Writer(path) as writer:
        connection = writer.add_connection("/pose", "geometry_msgs/msg/PoseStamped", typestore=store)
        for stamp, position, quat in zip(gt.stamps_ns, gt.positions_xyz, gt.quats_wxyz):
            header = types["std_msgs/msg/Header"](seq=0, frame_id="world", stamp=types["builtin_interfaces/msg/Time"](
                sec=int(stamp // 10**9), nanosec=int(stamp % 10**9)))
            pose = types["geometry_msgs/msg/Pose"](
                position=types["geometry_msgs/msg/Point"](x=position[0], y=position[1], z=position[2]),
                orientation=types["geometry_msgs/msg/Quaternion"](x=quat[1], y=quat[2], z=quat[3], w=quat[0]))
            message = types["geometry_msgs/msg/PoseStamped"](header=header, pose=pose)
            writer.write(connection, int(stamp), store.serialize_ros1(message, "geometry_msgs/msg/PoseStamped"))
    trajectory = load_trajectory(path, topic="/pose")
    np.testing.assert_array_equal(trajectory.stamps_ns, gt.stamps_ns)
    np.testing.assert_allclose(trajectory.poses_se3(), gt.poses_se3(), atol=1e-12)
