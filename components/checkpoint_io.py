"""A job's checkpoint I/O as the stack sees it: the throughput of its checkpoint volume, which the
trainer checks its budget against (--checkpoint.volume-throughput-mbps), and the termination
grace its pods get from that budget (trainer/checkpoint_budget.py) instead of a fixed 120 s.

Pure: a job's config and its volume in, numbers out.
"""

from __future__ import annotations

from trainer import checkpoint_budget
from trainer import config as trainer_config

from .config import TrainingJobConfig, VolumeConfig
from .config.volume_throughput import volume_throughput_mbps

DEFAULT_GRACE_S = checkpoint_budget.MIN_GRACE_S  # a job whose checkpoints the stack cannot size


def budgets(
    job: TrainingJobConfig, volume: VolumeConfig, *, uploads: bool
) -> list[checkpoint_budget.Budget]:
    """The job's budget at every size it can run at (an elastic job: each node count); none for
    a foreign workload or one whose trainer config does not build (its check reports that)."""
    if job.foreign or job.preset is None:
        return []
    overrides = dict(job.args)
    mbps = volume_throughput_mbps(volume)
    if mbps is not None:
        overrides.setdefault("checkpoint.volume_throughput_mbps", mbps)
    if uploads:
        overrides.setdefault("checkpoint.upload", "s3://bucket/checkpoints/job")  # sizes only
    try:
        cfg = trainer_config.build(job.preset, overrides)
    except trainer_config.ConfigError:
        return []
    low, high = job.node_range
    return [cfg.checkpoint_budget(n * job.gpus_per_node) for n in range(low, high + 1)]


def grace_seconds(job: TrainingJobConfig, volume: VolumeConfig, *, uploads: bool) -> int:
    """terminationGracePeriodSeconds: a SIGTERM save and its upload at the slowest size."""
    return max((b.grace_s for b in budgets(job, volume, uploads=uploads)), default=DEFAULT_GRACE_S)
