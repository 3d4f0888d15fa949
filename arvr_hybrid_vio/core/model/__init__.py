"""The learned VIO networks (hybrid and baselines), their inputs and the estimator's motion sources.

Kept import-light: importing this package does not import torch, so the
``imu-only`` estimator starts without it.
"""
