"""arvr_hybrid_vio: learned visual-inertial odometry for AR/VR rigs.

``core`` is ROS-free (numpy, torch, standard library); ``io`` reads and writes
bags and dataset folders without ROS (rosbags); ``ros`` and ``nodes`` are thin
rclpy adapters; ``tools`` holds the command-line programs.
"""
__version__ = "0.1.0"
