"""Kueue objects as a v0.19.2 cluster returns them (kueue.x-k8s.io/v1beta2): one ClusterQueue and
one LocalQueue, and the Workloads of four jobs in the jobs namespace: admitted, pending for quota,
pending again after a preemption, and held by an admission gate. Shapes follow
kubernetes-sigs/kueue v0.19.2 apis/kueue/v1beta2/{workload,clusterqueue,localqueue}_types.go and
apis/visibility/v1beta2/types.go; condition reasons and messages are the ones v0.19.2 writes
(pkg/workload/workload.go, admissionchecks.go, pkg/scheduler/flavorassigner/flavorassigner.go,
pkg/scheduler/preemption/preemption.go, pkg/controller/jobframework/reconciler.go,
pkg/controller/core/workload_controller.go, pkg/cache/scheduler/clusterqueue.go,
pkg/controller/core/localqueue_controller.go). Shared by the queue, status and watcher tests."""

from __future__ import annotations

import copy
from typing import Any

NS, CQ, LQ, FLAVOR, GPU = "training", "gpu-small", "team-a", "gpu-small", "nvidia.com/gpu"
T0 = "2026-11-25T09:00:00Z"  # the pending jobs were created
T_ADMIT = "2026-11-25T09:10:00Z"  # release admitted, finetune preempted
UIDS = {
    "release": "0b1e5e00-0000-4000-8000-000000000001",
    "llm": "0b1e5e00-0000-4000-8000-000000000002",
    "finetune": "0b1e5e00-0000-4000-8000-000000000003",
    "sweep": "0b1e5e00-0000-4000-8000-000000000004",
}
WL_UIDS = {name: uid.replace("0b1e5e00", "77770000") for name, uid in UIDS.items()}
KINDS = {"release": "PyTorchJob", "llm": "PyTorchJob", "finetune": "PyTorchJob", "sweep": "RayJob"}
API_VERSIONS = {"PyTorchJob": "kubeflow.org/v1", "RayJob": "ray.io/v1"}
API = "/apis/kueue.x-k8s.io/v1beta2"
VISIBILITY = "/apis/visibility.kueue.x-k8s.io/v1beta2"
SHORT = (
    "couldn't assign flavors to pod set worker: insufficient unused quota for nvidia.com/gpu in "
    "flavor gpu-small, 4 more needed"
)
# preemption.go preemptionMessage, with the release job's Workload and job UIDs and the
# ClusterQueue paths buildCQPath writes (/cohort/queue).
PREEMPTED_MESSAGE = (
    f"Preempted to accommodate a workload (UID: {WL_UIDS['release']}, JobUID: "
    f"{UIDS['release']}) due to prioritization in the ClusterQueue; preemptor path: "
    f"/trainstack/{CQ}; preemptee path: /trainstack/{CQ}"
)


def cond(kind: str, status: str, reason: str, message: str, when: str = T0) -> dict[str, Any]:
    """A metav1.Condition: type, status, observedGeneration, lastTransitionTime, reason, message."""
    return {
        "type": kind,
        "status": status,
        "observedGeneration": 1,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }


def _podset(name: str, count: int) -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "ecr/trainer@sha256:ab",
        "resources": {"requests": {"cpu": "8", "memory": "64Gi", GPU: "4"}},
    }
    return {"name": name, "count": count, "template": {"spec": {"containers": [container]}}}


def workload(job: str, priority: int, priority_class: str, status: dict[str, Any],
             created: str = T0, annotations: dict | None = None) -> dict[str, Any]:  # fmt: skip
    kind = KINDS[job]
    meta: dict[str, Any] = {
        "name": f"{kind.lower()}-{job}-3f2a1",  # jobframework/workload_names.go: kind-name-hash
        "namespace": NS,
        "uid": WL_UIDS[job],
        "creationTimestamp": created,
        "labels": {"kueue.x-k8s.io/job-uid": UIDS[job]},
        "ownerReferences": [
            {
                "apiVersion": API_VERSIONS[kind],
                "kind": kind,
                "name": job,
                "uid": UIDS[job],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": meta,
        "spec": {
            "podSets": [_podset("master", 1), _podset("worker", 1)],
            "queueName": LQ,
            "priorityClassRef": {
                "group": "kueue.x-k8s.io",
                "kind": "WorkloadPriorityClass",
                "name": priority_class,
            },
            "priority": priority,
            "active": True,
        },
        "status": status,
    }


def _assignment(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "flavors": {"cpu": FLAVOR, "memory": FLAVOR, GPU: FLAVOR},
        "resourceUsage": {"cpu": "8", "memory": "64Gi", GPU: "4"},
        "count": 1,
    }


ADMITTED = workload(
    "release",
    1000,
    "release",
    {
        "admission": {
            "clusterQueue": CQ,
            "podSetAssignments": [_assignment("master"), _assignment("worker")],
        },
        "conditions": [
            cond(
                "QuotaReserved",
                "True",
                "QuotaReserved",
                f"Quota reserved in ClusterQueue {CQ}",
                T_ADMIT,
            ),
            cond("Admitted", "True", "Admitted", "The workload is admitted", T_ADMIT),
            cond(
                "PodsReady",
                "True",
                "Started",
                "All pods reached readiness and the workload is running",
                T_ADMIT,
            ),
        ],  # fmt: skip
    },
    created="2026-11-25T09:05:00Z",
)

PENDING = workload(
    "llm",
    100,
    "nightly",
    {
        "conditions": [cond("QuotaReserved", "False", "Pending", SHORT)],
        "resourceRequests": [
            {"name": "master", "resources": {"cpu": "8", "memory": "64Gi", GPU: "4"}},
            {"name": "worker", "resources": {"cpu": "8", "memory": "64Gi", GPU: "4"}},
        ],
    },
)

# Admitted at 09:01, preempted at T_ADMIT by the release job, and pending again once its job
# stopped: Evicted stays True until quota is reserved again; Requeued True with the eviction's
# reason (jobframework/reconciler.go "handle eviction"); one eviction counted.
PREEMPTED = workload(
    "finetune",
    100,
    "nightly",
    {
        "conditions": [
            cond("QuotaReserved", "False", "Pending", PREEMPTED_MESSAGE, T_ADMIT),
            cond("Admitted", "False", "NoReservation", "The workload has no reservation", T_ADMIT),
            cond("Evicted", "True", "Preempted", PREEMPTED_MESSAGE, T_ADMIT),
            cond("Preempted", "True", "InClusterQueue", PREEMPTED_MESSAGE, T_ADMIT),
            cond("Requeued", "True", "Preempted", PREEMPTED_MESSAGE, T_ADMIT),
            cond(
                "PodsReady", "False", "WaitForStart", "Not all pods are ready or succeeded", T_ADMIT
            ),
        ],  # fmt: skip
        "schedulingStats": {
            "evictions": [{"reason": "Preempted", "underlyingCause": "", "count": 1}]
        },
    },
    created="2026-11-25T08:30:00Z",
)

GATE = "trainstack.io/hold"
HELD = workload(
    "sweep",
    100,
    "nightly",
    {
        "conditions": [
            cond("QuotaReserved", "False", "AdmissionGated", f"Admission is gated by: {GATE}")
        ]
    },
    annotations={"kueue.x-k8s.io/admission-gated-by": GATE},
)

WORKLOADS = [ADMITTED, PENDING, PREEMPTED, HELD]


def readmitted(wl: dict[str, Any], when: str = "2026-11-25T09:40:00Z") -> dict[str, Any]:
    """The Workload admitted again: SetQuotaReservation sets Evicted and Preempted False with
    reason QuotaReserved and "Previously: " before their message (workload.go
    resetActiveCondition); the eviction count stays."""
    again = copy.deepcopy(wl)
    st = again["status"]
    st["admission"] = copy.deepcopy(ADMITTED["status"]["admission"])
    for c in st["conditions"]:
        if c["type"] in ("Evicted", "Preempted"):
            c.update(status="False", reason="QuotaReserved", message="Previously: " + c["message"],
                     lastTransitionTime=when)  # fmt: skip
        if c["type"] == "QuotaReserved":
            c.update(status="True", reason="QuotaReserved",
                     message=f"Quota reserved in ClusterQueue {CQ}", lastTransitionTime=when)  # fmt: skip
    st["conditions"].append(cond("Admitted", "True", "Admitted", "The workload is admitted", when))
    st["conditions"] = [
        c for c in st["conditions"] if not (c["type"] == "Admitted" and c["status"] == "False")
    ]
    return again


def quota(name: str, nominal: str, **limits: str) -> dict[str, Any]:
    return {"name": name, "nominalQuota": nominal, **limits}


CLUSTER_QUEUE = {
    "apiVersion": "kueue.x-k8s.io/v1beta2",
    "kind": "ClusterQueue",
    "metadata": {"name": CQ},
    "spec": {
        "cohortName": "trainstack",
        "namespaceSelector": {},
        "queueingStrategy": "BestEffortFIFO",
        "preemption": {
            "withinClusterQueue": "LowerPriority",
            "reclaimWithinCohort": "Any",
            "borrowWithinCohort": {"policy": "Never"},
        },
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", GPU],
                "flavors": [
                    {
                        "name": FLAVOR,
                        "resources": [
                            quota("cpu", "96"),
                            quota("memory", "768Gi"),
                            quota(GPU, "8", borrowingLimit="4", lendingLimit="8"),
                        ],
                    }
                ],
            }
        ],
    },
    "status": {
        "conditions": [cond("Active", "True", "Ready", "Can admit new workloads")],
        "flavorsReservation": [
            {
                "name": FLAVOR,
                "resources": [
                    {"name": "cpu", "total": "16", "borrowed": "0"},
                    {"name": "memory", "total": "128Gi", "borrowed": "0"},
                    {"name": GPU, "total": "8", "borrowed": "0"},
                ],
            }
        ],
        "flavorsUsage": [
            {
                "name": FLAVOR,
                "resources": [
                    {"name": "cpu", "total": "16", "borrowed": "0"},
                    {"name": "memory", "total": "128Gi", "borrowed": "0"},
                    {"name": GPU, "total": "8", "borrowed": "0"},
                ],
            }
        ],
        "pendingWorkloads": 3,
        "reservingWorkloads": 1,
        "admittedWorkloads": 1,
    },
}

LOCAL_QUEUE = {
    "apiVersion": "kueue.x-k8s.io/v1beta2",
    "kind": "LocalQueue",
    "metadata": {"name": LQ, "namespace": NS},
    "spec": {"clusterQueue": CQ},
    "status": {
        "conditions": [cond("Active", "True", "Ready", "Can submit new workloads to localQueue")],
        "pendingWorkloads": 3,
        "reservingWorkloads": 1,
        "admittedWorkloads": 1,
        "flavorsReservation": [
            {
                "name": FLAVOR,
                "resources": [{"name": GPU, "total": "8"}, {"name": "cpu", "total": "16"}],
            }
        ],
        "flavorsUsage": [
            {
                "name": FLAVOR,
                "resources": [{"name": GPU, "total": "8"}, {"name": "cpu", "total": "16"}],
            }
        ],
    },
}


def pending_item(wl: dict[str, Any], in_cq: int, in_lq: int) -> dict[str, Any]:
    """A visibility PendingWorkload: the Workload's metadata (name, namespace, creation, owner
    references), priority, LocalQueue, positions from 0."""
    meta = {
        k: wl["metadata"][k] for k in ("name", "namespace", "creationTimestamp", "ownerReferences")
    }
    return {
        "metadata": meta,
        "priority": wl["spec"]["priority"],
        "localQueueName": wl["spec"]["queueName"],
        "positionInClusterQueue": in_cq,
        "positionInLocalQueue": in_lq,
    }


def summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "PendingWorkloadsSummary",
        "apiVersion": "visibility.kueue.x-k8s.io/v1beta2",
        "metadata": {"creationTimestamp": None},
        "items": items,
    }


def listing(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": f"{kind}List",
        "metadata": {"resourceVersion": "42"},
        "items": items,
    }
