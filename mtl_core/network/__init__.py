"""The multi-task network: estimator, training loop, losses, encoding, calibration, affinity."""
