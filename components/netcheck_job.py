"""`trainstack netcheck`'s job: a short PyTorchJob of the trainer image that runs only
trainer.netcheck on a pool's nodes, rendered exactly as a training job is (training_job.py), so it
gets the same pod spec, EFA resources, NCCL env, security context and network policy.

Pure: the pool, a volume and the node count in, the PyTorchJob and its NetworkPolicy out.
"""

from __future__ import annotations

from typing import Any

from . import job_contracts, network_bandwidth, network_policy
from .config import PoolFacts, TrainingJobConfig
from .job_command import NETCHECK, netcheck_args
from .training_job import JobTarget, render

DEADLINE_S = 1800  # a hung check must not hold GPU nodes for long
TTL_S = 3600  # the finished job and its logs stay an hour for `trainstack logs`


def job_name(pool: str) -> str:
    return f"netcheck-{pool}"[:40].rstrip("-")


def whole_node_gpus(pool: PoolFacts) -> int:
    """GPUs of the largest node the pool can launch within its GPU ceiling (a NodePool of
    g5.xlarge to g5.48xlarge capped at 4 GPUs never launches the 8-GPU type)."""
    counts = [i.gpus for i in pool.instances if pool.max_gpus is None or i.gpus <= pool.max_gpus]
    return max(counts, default=pool.max_gpus_per_node)


def job_config(
    pool_name: str, pool: PoolFacts, nodes: int, volume: str, *, efa: bool | None = None
) -> TrainingJobConfig:
    """One run of the check on `nodes` whole nodes of the pool (every GPU of the largest type
    the pool's GPU ceiling lets it launch), no retries: its verdict is the point, so a failure
    must not be retried into a pass."""
    gpus = whole_node_gpus(pool)
    uses_efa = pool.efa if efa is None else efa
    return TrainingJobConfig(
        node_pool=pool_name,
        nodes=nodes,
        gpus_per_node=gpus,
        checkpoint_volume=volume,
        efa=efa,
        max_restarts=0,
        backoff_limit=0,
        clean_pod_policy="None",  # keep the pods so their logs can be read
        ttl_seconds_after_finished=TTL_S,
        active_deadline_seconds=DEADLINE_S,
        nccl_debug="INFO",  # the check reads NCCL's own INFO lines
        command=[
            *NETCHECK,
            *netcheck_args(
                expect_efa=uses_efa, expected_gbps=network_bandwidth.pool_gbps(pool, gpus)
            ),
        ],
        suspend=False,
    )


def render_netcheck(
    name: str,
    job: TrainingJobConfig,
    target: JobTarget,
    setting: job_contracts.JobSetting,
) -> list[dict[str, Any]]:
    """The PyTorchJob and the NetworkPolicy its pods need (rank to rank, as a training job's)."""
    manifest = render(name, job, target)
    policies = [
        network_policy.render_contract(c, target.namespace)
        for c in job_contracts.contracts(name, job, setting)
    ]
    return [manifest, *policies]
