"""The rule for a pod whose node failed under it: the node reports an unhealthy condition (a GPU
XID, a broken network or disk, a kubelet that stopped answering), or the node is gone and the
pod carries the trace of its removal. Stdlib only, like the whole package, so the trainer image
can run it.

Reads the Node objects the caller looked up for the pods' nodes (`Inputs.nodes`; a name looked
up and not found is a node deleted since), the pods' DisruptionTarget condition, which the API
server's controllers set before they delete a pod (Kubernetes core/v1 PodConditionType
DisruptionTarget: `DeletionByPodGC` "PodGC: node no longer exists" once the node object is
deleted, `DeletionByTaintManager` once a NotReady node's NoExecute taint evicts it), and the
node monitoring agent's Warning events about the node (node_conditions.py)."""

from __future__ import annotations

from typing import Any

from .inputs import Found, Inputs, clip, where
from .node_conditions import ACCELERATED, Fault, event_faults, node_faults

REPAIR = "trainstack:nodeHealth.autoRepair"
REPLACED = (
    "its pods are deleted and the operator recreates them on a healthy node, where the job "
    "resumes from its last checkpoint"
)


def node_unhealthy(x: Inputs) -> Found:
    for pod, _, spec in x.pods:
        node = str(spec.get("nodeName") or "")
        if node and x.nodes is not None and node in x.nodes:
            faults = node_faults(x.nodes[node])
            if faults:
                return _unhealthy(pod, node, faults[0], x.namespace)
    for pod, status, spec in x.pods:
        node = str(spec.get("nodeName") or "")
        target = disruption_target(status)
        gone = bool(node) and x.nodes is not None and node not in x.nodes
        gone = gone or (target or {}).get("reason") == "DeletionByPodGC"
        noted = [f for f in event_faults(x.events) if node and f.node == node]
        if (gone and (target or noted)) or (target and noted):
            return _replaced(pod, node, target, noted, gone)
    return None


def disruption_target(status: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "DisruptionTarget" and str(c.get("status")) == "True"
        ),
        None,
    )


def _unhealthy(pod: str, node: str, fault: Fault, namespace: str) -> Found:
    if fault.condition == "Ready":
        what = "the kubelet stopped reporting the node Ready"
    elif fault.xid is not None:
        what = f"the GPU raised XID {fault.xid}, a fault the driver cannot recover from"
    elif fault.condition == ACCELERATED:
        what = "the EKS node monitoring agent found a GPU fault"
    else:
        system = fault.condition.removesuffix("Ready").lower()
        what = f"the EKS node monitoring agent found a {system} fault"
    after = fault.repair_after_min
    return (
        f"pod {pod} ran on node {node}, which reports {fault.condition} {fault.status}: {what}. "
        "With "
        f"node auto repair ({REPAIR}, on by default) the node is replaced after {after} min of "
        f"it; {REPLACED}",
        f"nothing to do while auto repair is on: `kubectl get node {node}` shows the condition "
        f"until the node goes, and `trainstack status <job> -n {namespace}` the job's resume. "
        f"With it off, cordon the node (`kubectl cordon {node}`) and delete it "
        f"(`kubectl delete node {node}`; a managed group's instance: terminate it) so the pods "
        "move; `trainstack doctor` lists every unhealthy node",
        f"{where(pod)}node {node}: {clip(fault.describe(), 240)}",
    )


def _replaced(
    pod: str, node: str, target: dict[str, Any] | None, noted: list[Fault], gone: bool
) -> Found:
    seen = []
    if noted:
        seen.append(f"agent on {node}: {clip(noted[-1].describe(), 160)}")
    if target:
        seen.append(
            f"DisruptionTarget {target.get('reason') or ''}: {target.get('message') or ''}".strip()
        )
    state = "is gone" if gone else "was being taken away"
    cause = f" after the agent reported {noted[-1].condition} ({noted[-1].reason})" if noted else ""
    return (
        f"pod {pod}'s node {node or '(unknown)'} {state}{cause}: the node was removed "
        f"(node auto repair, a spot reclaim or a scale-down) and the pod with it; {REPLACED}",
        "nothing to do when the job is running again; if pods keep landing on failing nodes, "
        "`trainstack doctor` names the unhealthy ones and their conditions",
        where(pod) + clip("; ".join(seen), 240),
    )
