"""ROS-free I/O: rosbag2 / ROS 1 bags through rosbags, dataset folders, trajectory files."""
