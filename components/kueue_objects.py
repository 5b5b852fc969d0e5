"""Kueue's objects for the stack's queues (config/queues.py), rendered by pure functions so they
are validated against the pinned kueue.x-k8s.io/v1beta2 CRDs, CEL rules included, without a
cluster (components/kueue.py creates them).

- one ResourceFlavor per GPU pool: the label its pods select the pool by and the GPU taint its
  nodes carry. Kueue copies a flavor's nodeLabels into an admitted job's pod templates
  (kueue v0.19.2 pkg/podset/podset.go FromAssignment): labels the pods already select on change
  nothing, so the running job stays the object Pulumi declared;
- with KubeRay, one flavor for the system nodes, where a RayJob's head and submitter run;
- one ClusterQueue per queue, all in one cohort, with its nominal quota in each pool it may use;
- one LocalQueue of the same name in the jobs namespace, the name a job's queue-name label gives;
- one WorkloadPriorityClass per `queues.priorities` entry.
"""

from __future__ import annotations

from typing import Any

from . import pod_spec, training_job
from .config import PlatformConfig, PoolFacts
from .config.queues import QueueQuota, Quota
from .config.sizing import cpus, gib
from .scheduling import GPU_TAINT, SYSTEM_LABEL

API_VERSION = "kueue.x-k8s.io/v1beta2"
COHORT = "trainstack"
GPU = "nvidia.com/gpu"
# Every flavor of a resource group lists these, in this order (the ClusterQueue CRD's rule).
COVERED = ("cpu", "memory", GPU)
LABELS = {"app.kubernetes.io/part-of": "trainstack"}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def pool_flavor(pool: PoolFacts) -> dict[str, Any]:
    """A pool's flavor: its pods' own pool selector (a NodePool's karpenter.sh/nodepool, a node
    group's trainstack.io/pool) and the GPU taint, which the GPU pods tolerate and a RayJob's
    head does not, so a head is never counted against a GPU pool."""
    selector = pod_spec.placement(pool, efa=False)["nodeSelector"]
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": _meta(pool.name),
        "spec": {"nodeLabels": dict(selector), "nodeTaints": [dict(GPU_TAINT)]},
    }


def system_flavor(name: str) -> dict[str, Any]:
    """The system nodes, by the selector of a RayJob's head and submitter (training_job.py)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceFlavor",
        "metadata": _meta(name),
        "spec": {"nodeLabels": {SYSTEM_LABEL: "true"}},
    }


def flavors(cfg: PlatformConfig) -> list[dict[str, Any]]:
    out = [pool_flavor(p) for p in cfg.pools().values()]
    if cfg.addons.kuberay.enabled:
        out.append(system_flavor(cfg.system_group[0]))
    return out


def ray_system_requests() -> tuple[float, float]:
    """CPUs and GiB one RayJob asks of the system nodes: its head and its submitter."""
    head = training_job.RAY_HEAD_SIZE
    submitter = training_job.SUBMITTER_RESOURCES["requests"]
    return (
        cpus(head.cpu) + cpus(submitter["cpu"]),
        gib(head.memory) + gib(submitter["memory"]),
    )


def _resources(quota: Quota, *, borrow: bool) -> list[dict[str, Any]]:
    values = {"cpu": str(quota.cpu), "memory": f"{quota.memory_gib}Gi", GPU: quota.gpus}
    out = []
    for name in COVERED:
        entry: dict[str, Any] = {"name": name, "nominalQuota": values[name]}
        if not borrow:
            entry["borrowingLimit"] = 0
        out.append(entry)
    return out


def cluster_queue(cfg: PlatformConfig, queue: QueueQuota) -> dict[str, Any]:
    plan = cfg.queue_plan()
    flavor_quotas = [
        {"name": pool, "resources": _resources(quota, borrow=queue.borrow)}
        for pool, quota in queue.quotas.items()
    ]
    if cfg.addons.kuberay.enabled:
        # Room for a head and a submitter per GPU the queue can ever hold (each RayJob has a
        # GPU at least): never the bound, but the system nodes must be a flavor of the queue.
        jobs = sum(plan.most_gpus(queue.name, pool) or 0 for pool in queue.quotas)
        cpu, memory = ray_system_requests()
        flavor_quotas.append(
            {
                "name": cfg.system_group[0],
                "resources": [
                    {"name": "cpu", "nominalQuota": f"{round(jobs * cpu * 1000)}m"},
                    {"name": "memory", "nominalQuota": f"{round(jobs * memory * 1024)}Mi"},
                    {"name": GPU, "nominalQuota": 0},
                ],
            }
        )
    p = cfg.queues.preemption
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterQueue",
        "metadata": _meta(queue.name),
        "spec": {
            # Every namespace: {} (null would select none, apis/kueue/v1beta2/
            # clusterqueue_types.go); which jobs Kueue manages is the installation's
            # managedJobsNamespaceSelector (components/kueue.py).
            "namespaceSelector": {},
            "cohortName": COHORT,
            "queueingStrategy": "BestEffortFIFO",
            "preemption": {
                "withinClusterQueue": p.within_queue,
                "reclaimWithinCohort": p.reclaim,
                "borrowWithinCohort": {"policy": p.borrow_within_cohort},
            },
            "resourceGroups": [{"coveredResources": list(COVERED), "flavors": flavor_quotas}],
        },
    }


def local_queue(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "LocalQueue",
        "metadata": _meta(name, namespace),
        "spec": {"clusterQueue": name},
    }


def priority_classes(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """WorkloadPriorityClass has no spec: `value` and `description` are top-level fields."""
    out = []
    for name, p in cfg.queues.priorities.items():
        obj: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "WorkloadPriorityClass",
            "metadata": _meta(name),
            "value": p.value,
        }
        if p.description:
            obj["description"] = p.description
        out.append(obj)
    return out


def cluster_objects(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """The cluster-scoped objects, in the order they depend on each other: priority classes and
    flavors, then the ClusterQueues that name them."""
    queues = cfg.queue_plan().queues.values()
    return [
        *priority_classes(cfg),
        *flavors(cfg),
        *(cluster_queue(cfg, q) for q in queues),
    ]


def local_queues(cfg: PlatformConfig) -> list[dict[str, Any]]:
    return [local_queue(name, cfg.jobs_namespace) for name in cfg.queue_plan().queues]
