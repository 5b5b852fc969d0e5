"""What the classifier's rules read: the pods (name, status, spec), the events and the log lines
of one job, with the accessors every rule shares. Stdlib only, like the whole package, so the
trainer image can run it."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NS = "training"  # the default trainstack:jobsNamespace, when neither caller nor pods say

# Each rule returns (summary, remedy, evidence) or None.
Found = tuple[str, str, str] | None


@dataclass
class Inputs:
    # (pod name, status, spec) per pod; a bare `status` mapping is accepted too.
    pods: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    efa_expected: bool = False
    namespace: str = NS  # the job's, for the kubectl commands shown in remedies
    # The Node objects looked up for the pods' nodes, by name; a name missing was looked up and
    # is gone. None: the nodes were not read (nothing is said about them).
    nodes: dict[str, dict[str, Any]] | None = None

    def containers(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for name, status, _ in self.pods:
            for key in ("initContainerStatuses", "containerStatuses"):
                for cs in status.get(key) or []:
                    if isinstance(cs, dict):
                        yield name, cs

    def command_of(self, pod: str, container: str) -> list[str] | None:
        """The words the pod's container runs (command, then args; a `sh -c` line split into
        its words), None when the spec does not say (a bare status, or the image's own
        entrypoint)."""
        for name, _, spec in self.pods:
            if name != pod:
                continue
            for key in ("initContainers", "containers"):
                for c in spec.get(key) or []:
                    if isinstance(c, dict) and c.get("name") == container:
                        given = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
                        return [w for words in given for w in _words(words)] or None
        return None

    def node_of(self, pod: str) -> str:
        """The node the pod ran on (spec.nodeName), '' when unknown."""
        return next((str(spec.get("nodeName") or "") for n, _, spec in self.pods if n == pod), "")

    def event_texts(self) -> Iterable[tuple[str, str, str]]:
        """(reason, message, object name) of each event."""
        for e in self.events:
            obj = regarding(e)
            yield (
                str(e.get("reason") or ""),
                str(e.get("message") or e.get("note") or ""),
                str(obj.get("name") or ""),
            )

    def scheduling_messages(self) -> Iterable[tuple[str, str]]:
        """(pod, message) of every 'cannot schedule' signal: PodScheduled False, FailedScheduling
        events (the kube-scheduler's and Karpenter's)."""
        for name, status, _ in self.pods:
            for c in status.get("conditions") or []:
                if c.get("type") == "PodScheduled" and str(c.get("status")) == "False":
                    yield name, str(c.get("message") or c.get("reason") or "")
        for reason, message, obj in self.event_texts():
            if reason == "FailedScheduling":
                yield obj, message

    def first_line(self, pattern: re.Pattern[str]) -> str | None:
        return next((line for line in self.lines if pattern.search(line)), None)


def status_and_spec(pod: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    if isinstance(pod.get("status"), dict):
        name = str((pod.get("metadata") or {}).get("name") or "")
        return name, pod["status"], pod.get("spec") or {}
    return "", pod, {}


def expects_efa(pods: list[tuple[str, dict[str, Any], dict[str, Any]]], lines: list[str]) -> bool:
    """Whether the job was meant to use EFA: a pod requests EFA devices or sets FI_PROVIDER=efa
    (what trainstack renders for `efa: true`). Not from NCCL's OFI lines: images with
    aws-ofi-nccl print them on every node, and on a node without EFA the socket fallback is
    right."""
    for _, _, spec in pods:
        for c in spec.get("containers") or []:
            res = c.get("resources") or {}
            if any("vpc.amazonaws.com/efa" in (res.get(k) or {}) for k in ("limits", "requests")):
                return True
            if any(
                e.get("name") == "FI_PROVIDER" and e.get("value") == "efa"
                for e in c.get("env") or []
            ):
                return True
    return any("FI_PROVIDER=efa" in line for line in lines)


def regarding(event: dict[str, Any]) -> dict[str, Any]:
    """The object an event is about: core/v1 `involvedObject`, events.k8s.io/v1 `regarding`."""
    return event.get("involvedObject") or event.get("regarding") or {}


def waiting_of(cs: dict[str, Any]) -> dict[str, Any]:
    return (cs.get("state") or {}).get("waiting") or {}


def clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def where(pod: str) -> str:
    return f"pod {pod}: " if pod else ""


def _words(text: str) -> list[str]:
    if not any(ch.isspace() for ch in text):
        return [text]
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote: the plain words are good enough here
        return text.split()
