"""The classifier's result and its order: `Cause`, the table of rules in report order,
`classify` over a job's pods, events and log tail, and `format_causes`. Stdlib only, like the
whole package, so the trainer image can run it.

The rules are listed in report order: configuration mistakes that stop a job outright, then
capacity, then what a rank died of, then the collective/rendezvous timeouts that other ranks
report as a consequence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import collectives, config_errors, containers, nodes, scheduling
from .inputs import NS, Found, Inputs, expects_efa, status_and_spec


@dataclass(frozen=True)
class Cause:
    code: str
    summary: str  # what it means
    remedy: str  # what to change or run
    evidence: str = ""  # the field, event or log line that matched

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


# (code, detector) in report order: most specific first.
DETECTORS: tuple[tuple[str, Callable[[Inputs], Found]], ...] = (
    ("SECRET_MISSING", config_errors.secret_missing),
    ("IMAGE_PULL", config_errors.image_pull),
    ("HF_AUTH", config_errors.hf_auth),
    ("S3_REFUSED", config_errors.s3_refused),
    ("NODEPOOL_LIMIT", scheduling.nodepool_limit),
    ("GPU_QUOTA", scheduling.quota),
    ("INSUFFICIENT_CAPACITY", scheduling.capacity),
    ("SPOT_INTERRUPTED", scheduling.spot_interrupted),
    ("NODE_UNHEALTHY", nodes.node_unhealthy),
    ("EFA_UNSCHEDULABLE", scheduling.efa_unschedulable),
    ("GPU_UNSCHEDULABLE", scheduling.gpu_unschedulable),
    ("UNSCHEDULABLE", scheduling.other_unschedulable),
    ("CUDA_OOM", containers.cuda_oom),
    ("OOM_KILLED", containers.oom_killed),
    ("SHM_EXHAUSTED", containers.shm),
    ("NODE_CHECK_FAILED", containers.node_check),
    ("PERMANENT_EXIT", containers.permanent_exit),
    ("EFA_FALLBACK_TCP", collectives.efa_fallback),
    ("RENDEZVOUS_TIMEOUT", collectives.rendezvous),
    ("NCCL_TIMEOUT", collectives.nccl_timeout),
    ("NCCL_ERROR", collectives.nccl_error),
    ("CONTAINER_FAILED", containers.container_failed),
)
CODES: tuple[str, ...] = tuple(code for code, _ in DETECTORS)
# Reported only when nothing more specific explains the failure: they restate what a specific
# cause already says (an NCCL WARN next to its timeout, an exit code next to its reason).
FALLBACKS = {
    "NCCL_ERROR": (
        "NODE_UNHEALTHY",
        "HF_AUTH",
        "S3_REFUSED",
        "CUDA_OOM",
        "SHM_EXHAUSTED",
        "PERMANENT_EXIT",
        "EFA_FALLBACK_TCP",
        "RENDEZVOUS_TIMEOUT",
        "NCCL_TIMEOUT",
    ),
    "CONTAINER_FAILED": CODES[:-1],
}


def classify(
    pod_statuses: list[dict[str, Any]],
    events: list[dict[str, Any]],
    log_tail: str,
    *,
    efa_expected: bool | None = None,
    namespace: str | None = None,
    nodes: list[dict[str, Any]] | None = None,
) -> list[Cause]:
    """Every known cause in the inputs, most specific first; [] when nothing is wrong.

    `pod_statuses`: Pod objects (or their `status` alone) as the API returns them; `events`:
    Event objects (core/v1 or events.k8s.io/v1); `log_tail`: the last lines of the job's logs.
    `efa_expected`: whether the job should use EFA; None infers it from the pods and the log.
    `namespace`: the job's, for the commands in remedies; None takes the pods' own.
    `nodes`: the Node objects of the pods' nodes that still exist; a pod's node not among them
    is taken as gone. None: the nodes were not read.
    """
    pods = [status_and_spec(p) for p in pod_statuses or [] if isinstance(p, dict)]
    lines = (log_tail or "").splitlines()
    namespace = namespace or next(
        (
            str(p["metadata"]["namespace"])
            for p in pod_statuses or []
            if isinstance(p, dict) and (p.get("metadata") or {}).get("namespace")
        ),
        NS,
    )
    x = Inputs(
        pods=pods,
        events=[e for e in events or [] if isinstance(e, dict)],
        lines=lines,
        efa_expected=expects_efa(pods, lines) if efa_expected is None else efa_expected,
        namespace=namespace,
        nodes=None
        if nodes is None
        else {str((n.get("metadata") or {}).get("name")): n for n in nodes if isinstance(n, dict)},
    )
    found: list[Cause] = []
    for code, detect in DETECTORS:
        if code in FALLBACKS and any(c.code in FALLBACKS[code] for c in found):
            continue
        hit = detect(x)
        if hit is not None:
            found.append(Cause(code, *hit))
    return found


def format_causes(causes: list[Cause]) -> str:
    if not causes:
        return "No known failure cause found in the pods, events and log tail."
    out = []
    for n, c in enumerate(causes, 1):
        out += [f"{n}. [{c.code}] {c.summary}", f"   fix: {c.remedy}"]
        if c.evidence:
            out.append(f"   seen: {c.evidence}")
    return "\n".join(out)
