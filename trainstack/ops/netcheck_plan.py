"""What `trainstack netcheck` runs, from the stack's config alone: the pool checked, the node count
within its ceiling, the volume the pods mount, and the rendered PyTorchJob and NetworkPolicies
(components/netcheck_job.py). Pure: no cluster, so `--dry-run` and the tests need none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import job_contracts, netcheck_job, workloads
from components.config import PlatformConfig, PoolFacts
from components.training_job import JobTarget

# A stand-in for the trainer image in a dry run without --image: the manifests still validate
# (the policies want an image by digest), and the note on stderr says it is not the real one.
PLACEHOLDER_IMAGE = "TRAINER-IMAGE@sha256:" + "0" * 64


class PlanError(Exception):
    """A request the stack cannot run (unknown pool, too many nodes, no volume): exit 2."""


@dataclass
class NetcheckPlan:
    name: str
    namespace: str
    pool: str
    nodes: int
    volume: str
    volume_reason: str
    manifests: list[dict[str, Any]]  # the PyTorchJob first, then its NetworkPolicies


def node_ceiling(pool: PoolFacts) -> int | None:
    """The most nodes the pool can give one check: its maxNodes/maxSize and whole nodes of its
    GPU limit; None when it has neither."""
    per_node = netcheck_job.whole_node_gpus(pool)
    limits = [pool.max_nodes] if pool.max_nodes is not None else []
    if pool.max_gpus is not None and per_node:
        limits.append(pool.max_gpus // per_node)
    return min(limits) if limits else None


def check_request(cfg: PlatformConfig, pool: str, nodes: int) -> PoolFacts:
    pools = cfg.pools()
    if pool not in pools:
        known = ", ".join(sorted(pools)) or "none"
        raise PlanError(f"--pool {pool!r} is not a GPU pool of this stack (its GPU pools: {known})")
    facts = pools[pool]
    ceiling = node_ceiling(facts)
    if nodes < 1:
        raise PlanError(f"--nodes {nodes}: at least 1")
    if ceiling == 0:
        raise PlanError(
            f"pool {pool}: its GPU limit ({facts.max_gpus}) is under one node of any of its "
            "instance types, which the check fills"
        )
    if ceiling is not None and nodes > ceiling:
        raise PlanError(
            f"--nodes {nodes}: pool {pool} can give at most {ceiling} node(s) of "
            f"{netcheck_job.whole_node_gpus(facts)} GPU(s) (its maxNodes/maxSize and maxGpus)"
        )
    return facts


def pick_volume(cfg: PlatformConfig, pool: str, wanted: str | None) -> tuple[str, str]:
    """(volume, why). The check writes nothing, but the rendered pods mount a checkpoint volume as
    a training job's do; the one the pool's own jobs mount is known to be reachable from its nodes
    (an FSx volume lives in the EFA zone for them), so that is the default."""
    if wanted is not None:
        if wanted not in cfg.volumes:
            known = ", ".join(sorted(cfg.volumes)) or "none"
            raise PlanError(
                f"--volume {wanted!r} is not a volume of this stack (its volumes: {known})"
            )
        return wanted, "given with --volume"
    for job_name, job in sorted(cfg.training_jobs.items()):
        if job.node_pool == pool and job.checkpoint_volume in cfg.volumes:
            return job.checkpoint_volume, f"the checkpoint volume of job {job_name} on this pool"
    shared = sorted(n for n, v in cfg.volumes.items() if v.shared)
    if shared:
        return shared[0], "no job on this pool has one: the stack's first shared volume"
    if cfg.volumes:
        first = sorted(cfg.volumes)[0]
        return first, "no job on this pool has one: the stack's first volume"
    raise PlanError("the stack has no volumes (trainstack:volumes), and the job mounts one")


def plan(
    cfg: PlatformConfig, pool: str, nodes: int, image: str, volume: str | None = None
) -> NetcheckPlan:
    facts = check_request(cfg, pool, nodes)
    vol, why = pick_volume(cfg, pool, volume)
    name = netcheck_job.job_name(pool)
    job = netcheck_job.job_config(pool, facts, nodes, vol)
    # The check needs no AWS identity: the namespace's default ServiceAccount, no bucket.
    target = JobTarget(cfg.jobs_namespace, image, facts, vol, cfg.volumes[vol])
    setting = job_contracts.JobSetting(None, cfg.https_except_vpc(), workloads.claims(cfg).get(vol))
    manifests = netcheck_job.render_netcheck(name, job, target, setting)
    return NetcheckPlan(name, cfg.jobs_namespace, pool, nodes, vol, why, manifests)
