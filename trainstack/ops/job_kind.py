"""What a kind of training job (PyTorchJob, RayJob) tells `trainstack status` and `logs`: where
its objects are in the API, how to read its state, which pods are its own and which one holds
rank 0's log, and how its status is drawn. jobs.py does the cluster access, the same for every
kind; each kind's module (pytorchjob.py, rayjob.py) fills in one `JobKind`, and job_kinds.py lists
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Job = dict[str, Any]  # the custom object as the API returns it


@dataclass(frozen=True)
class LogSource:
    """Where rank 0's lines are: a pod's container, or no pod yet (`pod` None) with the reason
    (`waiting`) and what is awaited (`awaited`, e.g. "the submitter of RayJob llm")."""

    pod: str | None
    container: str
    waiting: str = ""
    awaited: str = ""


def _no_message(job: Job) -> str:
    return ""


def _no_names(job: Job) -> set[str]:
    return set()


@dataclass(frozen=True)
class JobKind:
    kind: str  # the object's `kind`
    group: str
    version: str
    plural: str
    phase: Callable[[Job], str]  # the state shown in the first line and in `logs` messages
    failed: Callable[[Job], bool]  # `status` exits 1, `logs -f` ends with 1
    finished: Callable[[Job], bool]  # succeeded or failed: `logs -f` stops waiting
    # Label selectors of the job's pods, one list call each (selectors cannot OR).
    pod_selectors: Callable[[Job], list[str]]
    # Rank 0's log, from the job and its pods; `log_reads_pods` False: from the job alone, so
    # `logs` need not list pods to find it.
    log_source: Callable[[Job, list], LogSource]
    log_reads_pods: bool
    # (job, pods, newest checkpoint, causes or None, progress) -> the `status` text
    format_status: Callable[..., str]
    # The kind's own account of how the job ended, read by the classifier with the log tail.
    final_message: Callable[[Job], str] = _no_message
    # Objects besides the job and its pods whose events concern it (a RayJob's RayCluster).
    related_names: Callable[[Job], set[str]] = _no_names
