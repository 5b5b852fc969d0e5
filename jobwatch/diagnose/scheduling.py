"""Rules for pods that do not get a node: a NodePool at its limit, EC2 quota or capacity, spot
reclaims, and what the scheduler says it lacks (GPUs, EFA devices, anything else). Stdlib only,
like the whole package, so the trainer image can run it."""

from __future__ import annotations

import re

from .inputs import Found, Inputs, clip, where

LIMIT_RE = re.compile(
    r"exceed(s|ed)? (the )?limits?|limits? (exceeded|reached)|"
    r"nodepool\W+[\w-]+\W+.{0,40}limit",
    re.I,
)
# Karpenter lists every pool it tried ('incompatible with nodepool "small", ...'): the one at
# its limit is the one named after "limits for nodepool".
LIMIT_POOL_RE = re.compile(r'limits? for nodepool\W{1,3}"?([a-z0-9][a-z0-9-]*)"?', re.I)
POOL_RE = re.compile(r'nodepool\W{1,3}"?([a-z0-9][a-z0-9-]*)"?', re.I)


def nodepool_limit(x: Inputs) -> Found:
    for pod, msg in list(x.scheduling_messages()) + [(o, m) for _, m, o in x.event_texts()]:
        if hit := LIMIT_RE.search(msg):
            m = LIMIT_POOL_RE.search(msg) or POOL_RE.search(msg)
            pool = m.group(1) if m else "<pool>"
            # Karpenter's message leads with every other pool it rejected: show the limit part.
            shown = ("..." if hit.start() > 80 else "") + msg[max(0, hit.start() - 80) :]
            return (
                f"Karpenter will not launch another node: NodePool {pool!r} is at its GPU "
                "(or node) limit, so pods wait Pending",
                f"raise trainstack:karpenter.nodePools.{pool}.maxGpus (and maxNodes) and "
                "`pulumi up`, or ask for fewer nodes x gpusPerNode in the job; "
                f"`kubectl get nodepool {pool} -o jsonpath='{{.status.resources}}'` shows "
                "what it already runs",
                where(pod) + clip(shown),
            )
    return None


QUOTA_RE = re.compile(
    r"VcpuLimitExceeded|MaxSpotInstanceCountExceeded|"
    r"exceeded your (current )?quota|PendingVerification",
    re.I,
)
CAPACITY_RE = re.compile(
    r"InsufficientInstanceCapacity|insufficient capacity|"
    r"UnfulfillableCapacity|InsufficientCapacity",
    re.I,
)


def quota(x: Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if QUOTA_RE.search(msg) or QUOTA_RE.search(reason):
            return (
                "EC2 refused the instance: the account's vCPU quota for this instance class "
                "(G and VT / P, on-demand or spot) is used up",
                "request more in Service Quotas ('Running On-Demand G and VT instances', "
                "'All G and VT Spot Instance Requests', counted in vCPUs), or lower the "
                "pool's maxGpus / the group's maxSize to what the quota allows",
                where(obj) + clip(msg),
            )
    return None


def capacity(x: Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if CAPACITY_RE.search(msg) or CAPACITY_RE.search(reason):
            return (
                "AWS has no free capacity of the requested GPU type in the zones tried; "
                "the node is not launched (Karpenter retries, a managed group keeps failing)",
                "allow more types in the pool (trainstack:karpenter.nodePools.<pool>."
                "instanceFamilies / instanceTypes), add the other capacity type "
                "(capacityTypes: [spot, on-demand]), spread over more zones "
                "(trainstack:network.azCount; not for EFA groups, which sit in one zone), or "
                "reserve capacity (On-Demand Capacity Reservation, Capacity Block)",
                where(obj) + clip(msg),
            )
    return None


def spot_interrupted(x: Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if re.search(r"SpotInterrupt", reason) or re.search(r"spot interruption", msg, re.I):
            return (
                "EC2 reclaimed a spot node; its pods were killed and the job restarts from "
                "its last checkpoint",
                "expected on spot: keep args checkpoint.interval short enough to lose little; "
                "for runs that must not be interrupted use a pool with capacityTypes: "
                "[on-demand]",
                where(obj) + clip(msg),
            )
    return None


def _unschedulable(x: Inputs, pattern: str) -> tuple[str, str] | None:
    """(pod, message) of the first 'cannot schedule' signal matching `pattern`."""
    return next(((p, m) for p, m in x.scheduling_messages() if re.search(pattern, m)), None)


def efa_unschedulable(x: Inputs) -> Found:
    hit = _unschedulable(x, r"Insufficient vpc\.amazonaws\.com/efa")
    if hit is None:
        return None
    return (
        "no node offers free EFA devices: the pods request vpc.amazonaws.com/efa",
        "run the job on an EFA pool (efa: true with EFA sizes, 8xlarge and up for g4dn/g5/g6) "
        "and keep trainstack:addons.efaDevicePlugin enabled; `kubectl get nodes -o "
        "custom-columns=NAME:.metadata.name,EFA:.status.allocatable.vpc\\.amazonaws\\.com/efa`"
        " shows which nodes advertise EFA",
        where(hit[0]) + clip(hit[1]),
    )


def gpu_unschedulable(x: Inputs) -> Found:
    hit = _unschedulable(x, r"Insufficient nvidia\.com/gpu")
    if hit is None:
        return None
    return (
        "no node has enough free GPUs for the pod; it stays Pending until a node with GPUs "
        "joins (Karpenter pools launch one; managed groups only up to maxSize)",
        "on a Karpenter pool, see `kubectl get nodeclaims` and the Karpenter logs for why no "
        "node starts; on a managed group raise trainstack:nodeGroups.<group>.maxSize (and "
        "minSize to keep nodes up); if GPU nodes exist but show no nvidia.com/gpu, the NVIDIA "
        "device plugin is not running (trainstack:addons.nvidiaDevicePlugin)",
        where(hit[0]) + clip(hit[1]),
    )


def other_unschedulable(x: Inputs) -> Found:
    for pod, msg in x.scheduling_messages():
        if not re.search(r"Insufficient (nvidia\.com/gpu|vpc\.amazonaws\.com/efa)|exceed", msg):
            return (
                "the scheduler cannot place the pod: " + clip(msg, 120),
                "read the reasons after '0/N nodes are available': node selector or taint "
                "mismatches mean the job names a pool no node belongs to "
                "(trainstack:trainingJobs.<job>.nodePool); Insufficient cpu/memory means the "
                "job's cpu/memory ask exceeds the instance",
                where(pod) + clip(msg),
            )
    return None
