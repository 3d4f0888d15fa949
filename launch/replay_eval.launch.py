"""Replay a bag through the VIO node and score it live with the evaluation node (ROS 2 installs).

    ros2 launch arvr_hybrid_vio replay_eval.launch.py bag:=/path/to/bag
    ros2 launch arvr_hybrid_vio replay_eval.launch.py bag:=/data/MH_01_easy \\
        params_file:=$(ros2 pkg prefix arvr_hybrid_vio)/share/arvr_hybrid_vio/config/vio_euroc.yaml \\
        gt_topic:=/leica/position player:=ros2_bag rviz:=true

The player (the package's ``play`` executable by default, or ``ros2 bag play`` with
player:=ros2_bag) publishes ``/clock``; the VIO node and the evaluation node run on sim
time. When the bag ends, everything shuts down and the evaluation node writes its JSON
report and plot (``report_path``). Without a ROS install, ``arvr-vio-demo`` runs the same graph
from the console scripts.
"""
from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess, OpaqueFunction,
                            RegisterEventHandler)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "arvr_hybrid_vio"


def _player(context: LaunchContext) -> list:
    bag = LaunchConfiguration("bag").perform(context)
    rate = LaunchConfiguration("rate").perform(context)
    if LaunchConfiguration("player").perform(context) == "ros2_bag":
        player = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "--rate", rate, "--delay", "2"],
                                output="screen")
    else:
        player = Node(package=PACKAGE, executable="play", name="player", output="screen",
                      arguments=[bag, "--clock", "--rate", rate, "--delay", "1"])
    at_end = RegisterEventHandler(OnProcessExit(target_action=player, on_exit=[EmitEvent(event=Shutdown(
        reason="bag replay finished"))]))
    return [player, at_end]


def _vio_and_eval(context: LaunchContext) -> list[Node]:
    vio_overrides: dict[str, object] = {"use_sim_time": True,
                                        "estimator.device": LaunchConfiguration("device").perform(context)}
    model_path = LaunchConfiguration("model_path").perform(context)
    if model_path:
        vio_overrides["vio.model_path"] = model_path
    eval_overrides = {"use_sim_time": True, "gt_topic": LaunchConfiguration("gt_topic").perform(context),
                      "est_topic": "/vio/odometry",
                      "report_path": LaunchConfiguration("report_path").perform(context)}
    return [
        Node(package=PACKAGE, executable="vio_node", name="vio_node", output="screen",
             parameters=[LaunchConfiguration("params_file"), vio_overrides]),
        Node(package=PACKAGE, executable="eval_node", name="eval_node", output="screen",
             parameters=[LaunchConfiguration("eval_params_file"), eval_overrides]),
    ]


def generate_launch_description() -> LaunchDescription:
    """Player, VIO node, evaluation node and (optionally) RViz."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder (or .db3/.mcap) to replay"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "vio_synthetic.yaml"]),
                              description="VIO node parameter YAML"),
        DeclareLaunchArgument("eval_params_file", default_value=PathJoinSubstitution([share, "config", "eval.yaml"]),
                              description="evaluation node parameter YAML"),
        DeclareLaunchArgument("model_path", default_value="", description="model file or imu-only ('' = file's)"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cuda | cpu"),
        DeclareLaunchArgument("gt_topic", default_value="/ground_truth/pose", description="ground-truth topic"),
        DeclareLaunchArgument("report_path", default_value="eval_report.json", description="JSON report path"),
        DeclareLaunchArgument("rate", default_value="1.0", description="replay speed factor"),
        DeclareLaunchArgument("player", default_value="package", description="package | ros2_bag"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz (fixed frame odom)"),
        OpaqueFunction(function=_vio_and_eval),
        OpaqueFunction(function=_player),
        Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-f", "odom"],
             parameters=[{"use_sim_time": True}], condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
