"""ROS-free core: geometry, configs, sync buffer, trajectory metrics, model, estimator, synthesis.

Nothing under this package may import rclpy or any ``*_msgs`` module (a test enforces it).
"""
