"""The trainer's CloudWatch figures: their namespace, metric names and dimension sets."""

from __future__ import annotations

NAMESPACE = "trainstack/Training"
METRICS = ("Step", "Loss", "TokensPerSecond", "MFU", "DataWaitShare")
DIMENSION_SETS = (("ClusterName", "Job"), ("ClusterName", "Job", "Rank"))
