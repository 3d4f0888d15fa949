"""Thin rclpy adapters: message conversions, parameters, QoS, TF output."""
