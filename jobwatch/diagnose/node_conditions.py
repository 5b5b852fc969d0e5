"""A node's health as the EKS node monitoring agent and the kubelet report it: which node
conditions say the node is unhealthy, how long automatic repair waits on each, and the agent's
own events. Pure functions over the API's JSON (Node and Event objects); stdlib only, like the
whole package, so the trainer image can run it.

The agent (aws/eks-node-monitoring-agent v1.7.0) keeps one condition per subsystem on the node
(pkg/conditions/conditions.go). A fault it rates Fatal turns its condition False with the
fault's reason and message (pkg/manager/node_exporter.go Fatal; the reasons are in
pkg/reasons/reasons.yaml, e.g. `NvidiaXID79Error`, `NvidiaDoubleBitError`, `IPAMDNotReady`);
a healthy subsystem's condition is True (`NvidiaGPUIsReady`, ...). A Warning fault is no
condition: it is a Warning Event about the node whose reason is the condition type and whose
message is `<reason>: <message>` (node_exporter.go Warning), e.g. an XID the agent does not know
(monitors/nvidia/dcgm/dcgm_policies.go: XIDs outside WellKnownXidCodes are `NvidiaXID<n>Warning`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ACCELERATED = "AcceleratedHardwareReady"
# The agent's condition types, and how long automatic repair waits on each one False before it
# replaces the node: Karpenter v1.14.1 pkg/cloudprovider/cloudprovider.go RepairPolicies, the
# same waits the EKS User Guide ("Automatically repair nodes in EKS clusters") gives for managed
# node groups.
REPAIR_AFTER_MIN = {
    ACCELERATED: 10,
    "NetworkingReady": 30,
    "StorageReady": 30,
    "KernelReady": 30,
    "ContainerRuntimeReady": 30,
}
AGENT_CONDITIONS = tuple(REPAIR_AFTER_MIN)
READY_REPAIR_AFTER_MIN = 30  # the kubelet's Ready False or Unknown (same sources)
AGENT = "eks-node-monitoring-agent"  # the agent's event source (cmd/.../main.go recorder)
XID_RE = re.compile(r"\bNvidiaXID(?P<code>\d+)(?P<kind>Error|Warning)\b")


@dataclass(frozen=True)
class Fault:
    node: str
    condition: str  # AcceleratedHardwareReady, ..., or Ready
    reason: str  # the agent's reason (NvidiaXID79Error), the kubelet's, or a Warning's
    message: str
    since: str = ""  # the condition's lastTransitionTime, or the event's first time
    event: bool = False  # a Warning event (no condition, no repair), not a condition
    status: str = "False"  # the condition's (Ready may be Unknown)

    @property
    def xid(self) -> int | None:
        m = XID_RE.search(self.reason)
        return int(m.group("code")) if m else None

    @property
    def repair_after_min(self) -> int | None:
        """How long repair waits on this fault before it acts; None: repair never acts on it."""
        if self.event:
            return None
        if self.condition == "Ready":
            return READY_REPAIR_AFTER_MIN
        return REPAIR_AFTER_MIN.get(self.condition)

    def describe(self) -> str:
        what = "event" if self.event else self.status
        text = f"{self.condition} {what} ({self.reason or 'no reason'})"
        if self.message:
            text += f": {self.message}"
        return text + (f", since {self.since}" if self.since and not self.event else "")


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def node_faults(node: Mapping[str, Any]) -> list[Fault]:
    """The node's unhealthy conditions: each agent condition False, and Ready not True."""
    name = name_of(node)
    out = []
    for c in (node.get("status") or {}).get("conditions") or []:
        kind, state = str(c.get("type") or ""), str(c.get("status") or "")
        bad = (kind in AGENT_CONDITIONS and state == "False") or (
            kind == "Ready" and state in ("False", "Unknown")
        )
        if bad:
            out.append(
                Fault(
                    name,
                    kind,
                    str(c.get("reason") or ""),
                    " ".join(str(c.get("message") or "").split()),
                    str(c.get("lastTransitionTime") or ""),
                    status=state,
                )
            )
    # The GPUs first: they are what a training job loses.
    return sorted(out, key=lambda f: (f.condition != ACCELERATED, f.condition == "Ready"))


def event_faults(events: Iterable[Mapping[str, Any]]) -> list[Fault]:
    """The agent's Warning events about nodes (core/v1 or events.k8s.io/v1), oldest first."""
    out = []
    for e in events:
        obj = e.get("involvedObject") or e.get("regarding") or {}
        reason = str(e.get("reason") or "")
        if obj.get("kind") != "Node" or reason not in AGENT_CONDITIONS:
            continue
        if str(e.get("type") or "") not in ("", "Warning"):
            continue
        text = str(e.get("message") or e.get("note") or "")
        head, sep, rest = text.partition(": ")
        fault_reason, message = (head, rest) if sep and " " not in head else ("", text)
        since = str(e.get("firstTimestamp") or e.get("eventTime") or e.get("lastTimestamp") or "")
        out.append(
            Fault(str(obj.get("name") or ""), reason, fault_reason, message, since, event=True)
        )
    return sorted(out, key=lambda f: f.since)
