"""Kueue's queues in `trainstack doctor`: a ClusterQueue that is not Active admits nothing, so
every job sent to it waits forever while looking merely queued. Kueue sets Active False with
the reason (kueue v0.19.2 pkg/cache/scheduler/clusterqueue.go inactiveReason): stopped, a
ResourceFlavor or AdmissionCheck it names missing, terminating. Pure over the ClusterQueues as
the API returns them (kueue.x-k8s.io/v1beta2 dicts)."""

from __future__ import annotations

from typing import Any

from components.kueue import CONTROLLER_DEPLOYMENT
from components.kueue import NAMESPACE as KUEUE_NAMESPACE

from ..queue import active_state
from .results import FAIL, WARN, Result, ok

TITLE = "Kueue queues"


def check_cluster_queues(cluster_queues: list[dict[str, Any]]) -> Result:
    states = {cq["metadata"]["name"]: active_state(cq) for cq in cluster_queues}
    if not states:
        return Result(
            TITLE,
            FAIL,
            "Kueue is installed but has no ClusterQueue",
            "every job carries a queue-name label, and Kueue admits none of them",
            "pulumi up (creates one ClusterQueue per GPU pool and per team)",
        )
    inactive = {n: s for n, s in sorted(states.items()) if s.startswith("Inactive")}
    unknown = sorted(n for n, s in states.items() if s != "Active" and n not in inactive)
    if inactive:
        first = next(iter(inactive))
        return Result(
            TITLE,
            FAIL,
            "; ".join(f"{name}: {state}" for name, state in inactive.items()),
            "an inactive ClusterQueue admits nothing: its jobs stay pending with no error",
            f"kubectl describe clusterqueue {first}; pulumi up restores the ResourceFlavors "
            "it names; a stopPolicy set by hand is cleared with "
            f'kubectl patch clusterqueue {first} --type merge -p \'{{"spec":{{"stopPolicy":'
            '"None"}}\'',
        )
    if unknown:  # just created: Kueue has not reconciled it yet
        return Result(
            TITLE,
            WARN,
            f"no Active condition yet on {', '.join(unknown)}",
            fix=f"kubectl -n {KUEUE_NAMESPACE} logs deploy/{CONTROLLER_DEPLOYMENT}",
        )
    return ok(TITLE, f"{len(states)} ClusterQueue(s) Active")
