"""Benchmark harness and leaderboard for preference-optimization (DPO-family) losses."""

from harness.lossfile import Loss, LossFileError, load_loss

__all__ = ["Loss", "LossFileError", "load_loss"]
