"""ROS 2 nodes: the VIO node and the live evaluation node."""
