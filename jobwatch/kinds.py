"""The kinds of training job the watcher follows, and what it needs of each: where the objects
are in the API, what to notify (`notice`), which pods are the job's and which pod's log holds
rank 0's lines. The state functions are the ones `trainstack status` draws with
(trainstack/ops/job_kinds.py lists the same kinds). Stdlib only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import pytorchjob, rayjob, trainjob
from .incidents import ExitReader, OperatorExit

Job = dict[str, Any]


def _no_message(job: Job) -> str:
    return ""


def _no_names(job: Job) -> set[str]:
    return set()


def _never(job: Job, pod: dict, code: int) -> bool:
    return False


def _no_pod(job: Job, pod: str) -> bool:
    return False


def _no_job(pod: dict) -> str:
    return ""


def _always(job: Job, pod: dict) -> bool:
    return True


def _no_exit(job: Job, namespace: str, event: dict) -> OperatorExit | None:
    return None


def _no_time(job: Job) -> str:
    return ""


def _not_running(job: Job) -> bool:
    return False


@dataclass(frozen=True)
class WatchedKind:
    kind: str
    group: str
    version: str
    plural: str
    notice: Callable[[Job], str | None]  # the state key to notify, None for nothing
    pod_selectors: Callable[[Job], list[str]]
    # (pod, container) of rank 0's log from the job and its pod models; None when there is none.
    log_source: Callable[[Job, list], tuple[str, str] | None]
    final_message: Callable[[Job], str] = _no_message
    related_names: Callable[[Job], set[str]] = _no_names
    # Restarts as incidents of failed pods (incidents.py, restarts.py): the label every pod of
    # the kind's jobs carries (None: no pods are followed), the job's name from its pod, the
    # container whose exit counts ('' for the pod's first), whether a failure of the pod is the
    # job's at all (not a pod ending because its cluster is torn down), whether the operator
    # recreates a pod that exited a code (or the kubelet its container), and whether a pod
    # name is one of the job's (for a deleted pod's events); and the operator's event that tells
    # of a pod it deleted, for failures the watcher did not see (incidents.from_events).
    pod_label: str | None = None
    job_of_pod: Callable[[dict], str] = _no_job
    container: str = ""
    counts: Callable[[Job, dict], bool] = _always
    retried: Callable[[Job, dict, int], bool] = _never
    names_pod: Callable[[Job, str], bool] = _no_pod
    operator_exit: ExitReader = _no_exit
    # When the job ended (an API timestamp, '' unknown): its Failed message names the failures
    # just before, not older ones it went on from.
    ended_at: Callable[[Job], str] = _no_time
    # Whether a pod's previous container can hold the log: not for pods the operator runs
    # with restartPolicy Never (a PyTorchJob's under ExitCode), where it is another pod's.
    previous_logs: bool = True
    # Whether the job is running, so its step progress is watched (alarms.py): a hung job is
    # one that runs without progress.
    running: Callable[[Job], bool] = _not_running


def _pytorch_log(job: Job, pods: list) -> tuple[str, str] | None:
    return pytorchjob.log_pod_name(job), pytorchjob.CONTAINER


def _ray_log(job: Job, pods: list) -> tuple[str, str] | None:
    pod = rayjob.submitter_pod(pods)
    return (pod, rayjob.SUBMITTER_CONTAINER) if pod else None


def _trainjob_log(job: Job, pods: list) -> tuple[str, str] | None:
    pod = trainjob.log_pod(pods)
    return (pod, trainjob.CONTAINER) if pod else None


KINDS: tuple[WatchedKind, ...] = (
    WatchedKind(
        kind="PyTorchJob",
        group=pytorchjob.GROUP,
        version=pytorchjob.VERSION,
        plural=pytorchjob.PLURAL,
        notice=pytorchjob.notice,
        pod_selectors=pytorchjob.pod_selectors,
        log_source=_pytorch_log,
        pod_label=pytorchjob.JOB_LABEL,
        job_of_pod=pytorchjob.job_of_pod,
        container=pytorchjob.CONTAINER,
        retried=pytorchjob.retried,
        names_pod=pytorchjob.names_pod,
        operator_exit=pytorchjob.exited,
        ended_at=pytorchjob.ended_at,
        previous_logs=False,
        running=lambda job: pytorchjob.phase(job) == "Running",
    ),
    WatchedKind(
        kind="RayJob",
        group=rayjob.GROUP,
        version=rayjob.VERSION,
        plural=rayjob.PLURAL,
        notice=rayjob.notice,
        pod_selectors=rayjob.pod_selectors,
        log_source=_ray_log,
        final_message=rayjob.final_message,
        related_names=rayjob.related_names,
        # The cluster's head and worker pods, not the submitter's (it has no such label): a
        # failed one is what KubeRay replaces while the RayJob's status stays Running.
        pod_label=rayjob.CLUSTER_LABEL,
        job_of_pod=rayjob.job_of_pod,
        counts=rayjob.runs_on,
        retried=rayjob.retried,
        names_pod=rayjob.names_pod,
        operator_exit=rayjob.deleted,
        ended_at=rayjob.ended_at,
        running=lambda job: rayjob.phase(job) == "Running",
    ),
    WatchedKind(
        kind="TrainJob",
        group=trainjob.GROUP,
        version=trainjob.VERSION,
        plural=trainjob.PLURAL,
        notice=trainjob.notice,
        pod_selectors=trainjob.pod_selectors,
        log_source=_trainjob_log,
        final_message=trainjob.final_message,
        # Every pod of the TrainJob's JobSet: its Job keeps a failed pod (restartPolicy Never)
        # beside the one it creates in its place, so no operator event is needed to see it.
        pod_label=trainjob.JOBSET_LABEL,
        job_of_pod=trainjob.job_of_pod,
        container=trainjob.CONTAINER,
        retried=trainjob.retried,
        names_pod=trainjob.names_pod,
        ended_at=trainjob.ended_at,
        previous_logs=False,
        running=lambda job: trainjob.phase(job) == "Running",
    ),
)
