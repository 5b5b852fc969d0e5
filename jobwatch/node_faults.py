"""The GPU-fault alarm: a node that runs a job's pods reports a GPU fault. A pure rule over the
job's pods' nodes, their Node objects and the node monitoring agent's events about them, stdlib
only (alarms.py reads them and sends what this finds).

It fires on the node's AcceleratedHardwareReady condition False (the agent's fatal GPU faults:
XIDs it knows, double-bit ECC errors, NVLink errors, a lost GPU, DCGM failures; the ones node
repair acts on) and on an XID the agent only reports as a Warning event (an XID it does not
know: no condition, no repair). Other subsystems' faults and non-XID GPU warnings (thermal,
power, PCIe replays) are not alarms: the classifier names them when a job fails
(diagnose/nodes.py).

One alarm per job, node and fault: a condition's key carries the time it turned False, so the
same node failing again after it recovered is told again; an event's key is its node and
reason, so a warning the agent repeats is told once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .diagnose.node_conditions import ACCELERATED, Fault, event_faults, node_faults
from .incidents import epoch

PREFIX = "NodeFault#"
# The trainer's lines naming a checkpoint step (trainer/logline.py Checkpoint, Resumed and
# SigtermSaved formats; jobwatch does not import the trainer, a test holds them equal).
CHECKPOINT_RE = re.compile(
    r"trainer: (?:checkpoint .*step_(?P<saved>\d+)\s*$|resumed from .+? \(step (?P<resumed>\d+),"
    r"|SIGTERM: saved step (?P<sigterm>\d+))"
)


@dataclass(frozen=True)
class NodeAlarm:
    fault: Fault
    pods: tuple[str, ...]  # the job's pods on the node

    @property
    def node(self) -> str:
        return self.fault.node

    @property
    def key(self) -> str:
        f = self.fault
        key = f"{PREFIX}{f.node}/{f.reason or f.condition}"
        return key if f.event else f"{key}@{int(epoch(f.since))}"


def judge(
    pods_on: Mapping[str, Iterable[str]],
    nodes: Mapping[str, Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> list[NodeAlarm]:
    """The alarms for a job whose pods run on `pods_on` (node name -> the job's pods there):
    `nodes` are those nodes' objects (a node missing was not readable or is gone), `events` the
    events about nodes (the agent's Warnings among them)."""
    xid_events = [f for f in event_faults(events) if f.xid is not None]
    out = []
    for node, pods in sorted(pods_on.items()):
        faults = [f for f in node_faults(nodes.get(node) or {}) if f.condition == ACCELERATED]
        faults += [f for f in xid_events if f.node == node]
        seen = set()
        for f in faults:
            if (f.reason, f.event) not in seen:
                seen.add((f.reason, f.event))
                out.append(NodeAlarm(f, tuple(sorted(pods))))
    return out


def checkpoint_step(log_tail: str) -> int | None:
    """The newest checkpoint step rank 0's log names (saved, resumed from, saved on SIGTERM)."""
    steps = [
        int(next(v for v in m.groupdict().values() if v))
        for line in log_tail.splitlines()
        if (m := CHECKPOINT_RE.search(line))
    ]
    return max(steps) if steps else None


def facts(
    alarm: NodeAlarm, job: str, namespace: str, *, repair: bool, step: int | None
) -> list[str]:
    """The message's lines: the node, the fault, the job's pods there, and the remedy."""
    f = alarm.fault
    xid = f" (XID {f.xid})" if f.xid is not None else ""
    resume = (
        f"resumes from its checkpoint of step {step}, the newest rank 0 logged"
        if step is not None
        else "resumes from its last checkpoint (none logged yet: from the start)"
    )
    lines = [
        "",
        f"Node {f.node}, which runs {', '.join(alarm.pods)} of this job, reports a GPU "
        f"fault{xid}: {f.describe()}.",
        "",
    ]
    if f.event:
        lines.append(
            "Remedy: the node monitoring agent rates this XID non-fatal, so the node's "
            f"{ACCELERATED} condition stays True and no repair follows. If the job slows down, "
            f"hangs or fails on this node, cordon it (kubectl cordon {f.node}) and delete the "
            f"job's pods there; the operator recreates them elsewhere and the job {resume}."
        )
    elif repair:
        lines.append(
            f"Remedy: the node is being repaired (nodeHealth.autoRepair is on): after "
            f"{f.repair_after_min} min of {ACCELERATED} False, EKS (a managed node group) or "
            "Karpenter (a NodePool) replaces it. The job's pods there are deleted and "
            f"recreated on a healthy node, and the job {resume}. Nothing to do unless it does "
            f"not come back: trainstack status {job} -n {namespace}."
        )
    else:
        lines.append(
            "Remedy: automatic repair is off (nodeHealth.autoRepair), so the node stays as it "
            f"is. Cordon it (kubectl cordon {f.node}) and delete it (kubectl delete node "
            f"{f.node}; a managed group's instance: terminate it) so the job's pods are "
            f"recreated elsewhere; the job {resume}."
        )
    return lines
