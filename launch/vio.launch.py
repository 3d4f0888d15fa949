"""Launch the VIO node with a parameter file (ROS 2 installs).

    ros2 launch arvr_hybrid_vio vio.launch.py                               # config/vio_rig.yaml
    ros2 launch arvr_hybrid_vio vio.launch.py params_file:=/path/to/vio_euroc.yaml model_path:=imu-only
    ros2 launch arvr_hybrid_vio vio.launch.py device:=cpu use_sim_time:=true

Arguments: params_file (default: the installed config/vio_rig.yaml), model_path ("" keeps the
file's value: the installed models/hybrid.safetensors by default), device (auto | cuda | cpu),
use_sim_time, log_level.
"""
from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "arvr_hybrid_vio"


def _vio_node(context: LaunchContext) -> list[Node]:
    overrides: dict[str, object] = {
        "use_sim_time": LaunchConfiguration("use_sim_time").perform(context).lower() == "true",
        "estimator.device": LaunchConfiguration("device").perform(context),
    }
    model_path = LaunchConfiguration("model_path").perform(context)
    if model_path:
        overrides["vio.model_path"] = model_path
    return [Node(
        package=PACKAGE, executable="vio_node", name="vio_node", output="screen", emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )]


def generate_launch_description() -> LaunchDescription:
    """The node and its launch arguments."""
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "vio_rig.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameter YAML"),
        DeclareLaunchArgument("model_path", default_value="", description="model file or imu-only ('' = file's)"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cuda | cpu"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock time"),
        DeclareLaunchArgument("log_level", default_value="info", description="node log level"),
        OpaqueFunction(function=_vio_node),
    ])
