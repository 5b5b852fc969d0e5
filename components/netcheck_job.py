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


def job_config(
    pool_name: str, pool: PoolFacts, nodes: int, volume: str, *, efa: bool | None = None
) -> TrainingJobConfig:
    """One run of the check on `nodes` whole nodes of the pool (every GPU of its largest
    type), no retries: its verdict is the point, so a failure must not be retried into a pass."""
    gpus = pool.max_gpus_per_node
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
