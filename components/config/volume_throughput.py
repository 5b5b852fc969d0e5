"""The throughput of a checkpoint volume the stack creates, in MB/s: what the trainer's checkpoint
budget (trainer/checkpoint_budget.py) is checked against, at `pulumi preview` (workloads.py) and
at the trainer's start (its --checkpoint.volume-throughput-mbps, components/job_command.py).

Baselines, not bursts:
- FSx for Lustre: MB/s per TiB of storage times its TiB (FSx Lustre User Guide, "Amazon FSx for
  Lustre performance": throughput scales with storage capacity); PERSISTENT_* at the provisioned
  figure, SCRATCH_2 at 200 MB/s per TiB (the SSD table's baseline).
- EFS with Elastic throughput, as components/storage.py creates it: 1 GiBps written per file
  system, the lowest of the Regional write figures (EFS User Guide, "Amazon EFS performance").
- EBS gp3 as the stack's gp3 class creates it (no throughput parameter): 125 MiB/s (EBS User
  Guide, "General Purpose SSD volumes").
"""

from __future__ import annotations

from typing import Any

from trainer.checkpoint_budget import MB, fsx_lustre_mbps

from .sizing import gib

SCRATCH_2_MBPS_PER_TIB = 200
EFS_ELASTIC_WRITE_MBPS = (1 << 30) / MB
EBS_GP3_MBPS = 125 * (1 << 20) / MB


def volume_throughput_mbps(volume: Any) -> float | None:
    """MB/s of a volume (a workloads.VolumeConfig, which imports this module) the stack creates,
    to one decimal; None for a class or claim of the user's own, whose throughput it does not
    know."""
    if volume.stack_lustre:
        per_tib = volume.lustre_throughput or SCRATCH_2_MBPS_PER_TIB
        return round(fsx_lustre_mbps(gib(volume.size), per_tib), 1)
    if volume.existing_claim is None and volume.storage_class_name is None:
        mbps = {"efs": EFS_ELASTIC_WRITE_MBPS, "ebs": EBS_GP3_MBPS}.get(volume.type)
        return None if mbps is None else round(mbps, 1)
    return None
