"""`trainstack status JOB` and `trainstack logs JOB`: a training job as its user sees it.

A job is a PyTorchJob (here) or a RayJob (rayjobs.py holds what differs); job_view.py draws
what both show. Parsing and formatting are pure functions over the trainer's log lines, job
dicts and V1Pod models, so they are tested on recorded objects. The functions under "cluster
access" are the only code that talks to a cluster.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from trainer import logline

from . import diagnose as classifier
from . import kube, rayjobs
from .job_view import (
    format_causes,
    format_progress,
    grouped_pod_lines,
    pod_problem,
    render_progress,
)

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"
CONTAINER = "pytorch"  # the training operator requires this container name
JOB_LABEL = "training.kubeflow.org/job-name"
TYPE_LABEL = "training.kubeflow.org/replica-type"
INDEX_LABEL = "training.kubeflow.org/replica-index"
LOG_TAIL_LINES = 200  # what the classifier sees of the master's log
# logs -f waits this long for rank 0 to start: a new GPU node plus an image pull takes minutes.
WAIT_FOR_START_S = 900


# ------------------------------------------------------------------------------ log views
# The trainer's lines are read by trainer/logline.py, which also writes them.


class LogView:
    """Writes a log stream: on a terminal, step lines redraw one progress line and other lines
    scroll above it; elsewhere (pipes, files, CI) every line passes through unchanged."""

    CLEAR = "\r\x1b[K"

    def __init__(self, out: TextIO, tty: bool):
        self.out, self.tty = out, tty
        self.bar: str | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        info = logline.parse(line) if self.tty else None
        if isinstance(info, logline.Progress):
            self.bar = render_progress(info)
            self.out.write(self.CLEAR + self.bar)
        elif self.bar is not None:
            self.out.write(f"{self.CLEAR}{line}\n{self.bar}")
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.out.write("\n")
            self.bar = None
        self.out.flush()


# --------------------------------------------------------------------------- job and pods


def is_ray(job: dict[str, Any]) -> bool:
    return job.get("kind") == "RayJob"


def is_elastic(job: dict[str, Any]) -> bool:
    specs = job.get("spec", {}).get("pytorchReplicaSpecs", {})
    return "Master" not in specs


def log_pod_name(job: dict[str, Any]) -> str:
    """Rank 0's pod: the master, or worker 0 of an elastic job (which has no master).
    torch's c10d rendezvous numbers nodes in the sorted order of their hostnames (the pod names),
    so `<job>-master-0` sorts first, and `<job>-worker-0` first among workers."""
    name = job["metadata"]["name"]
    return f"{name}-worker-0" if is_elastic(job) else f"{name}-master-0"


def conditions(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Latest first. The operator appends conditions; the timestamps order them."""
    conds = list(job.get("status", {}).get("conditions") or [])

    # Timestamps have one-second resolution: on a tie the later-appended condition is newer.
    def when(item: tuple[int, dict[str, Any]]) -> tuple[str, int]:
        index, c = item
        return c.get("lastTransitionTime") or c.get("lastUpdateTime") or "", index

    return [c for _, c in sorted(enumerate(conds), key=when, reverse=True)]


def phase(job: dict[str, Any]) -> str:
    """The newest condition that holds (Created/Running/Restarting/Succeeded/Failed)."""
    for c in conditions(job):
        if c.get("status") == "True":
            return c.get("type", "Unknown")
    return "Pending"


def _replica_key(pod) -> tuple[str, int]:
    labels = pod.metadata.labels or {}
    try:
        index = int(labels.get(INDEX_LABEL, "0"))
    except ValueError:
        index = 0
    return labels.get(TYPE_LABEL, "?").lower(), index


def has_failed(job: dict[str, Any]) -> bool:
    return rayjobs.failed(job) if is_ray(job) else phase(job) == "Failed"


def job_phase(job: dict[str, Any]) -> str:
    return rayjobs.phase(job) if is_ray(job) else phase(job)


def is_finished(job: dict[str, Any]) -> bool:
    return rayjobs.finished(job) if is_ray(job) else phase(job) in ("Succeeded", "Failed")


def needs_diagnosis(job: dict[str, Any], pods: list) -> bool:
    return has_failed(job) or any(pod_problem(p) for p in pods)


def format_status(
    job: dict[str, Any],
    pods: list,
    checkpoint: tuple[int, str | None] | None,
    causes: list | None = None,
    progress: dict[str, Any] | None = None,
) -> str:
    meta = job["metadata"]
    lines = [
        f"PyTorchJob {meta.get('namespace', '?')}/{meta['name']}: {phase(job)}"
        + ("  (elastic)" if is_elastic(job) else "")
    ]
    lines += format_progress(progress, checkpoint)

    lines.append("conditions (latest first):")
    for c in conditions(job) or [{"type": "-", "status": "", "message": "none yet"}]:
        when = c.get("lastTransitionTime") or c.get("lastUpdateTime") or ""
        reason = f" {c['reason']}" if c.get("reason") else ""
        lines.append(
            f"  {when:<20} {c.get('type', '?')}={c.get('status', '?')}{reason}: "
            f"{c.get('message', '')}".rstrip(": ")
        )

    specs = job.get("spec", {}).get("pytorchReplicaSpecs", {})
    states = job.get("status", {}).get("replicaStatuses") or {}
    headers = {}
    for rtype, spec in specs.items():
        counts = states.get(rtype, {})
        summary = ", ".join(
            f"{k} {counts[k]}" for k in ("active", "succeeded", "failed") if counts.get(k)
        )
        headers[rtype.lower()] = f"{rtype}: {spec.get('replicas', 1)} wanted" + (
            f" ({summary})" if summary else ""
        )
    lines.append("replicas:")
    lines += grouped_pod_lines(
        pods, headers, group_of=lambda p: _replica_key(p)[0], order=_replica_key
    )
    if not pods:
        lines.append("  no pods (not created yet, or removed by cleanPodPolicy)")

    lines += format_causes(causes, meta["name"], meta.get("namespace"))
    return "\n".join(lines)


def events_for(events: list, names: set[str]) -> list:
    """Events about the job's pods (and the job itself), oldest first."""

    def when(e) -> str:
        t = (
            e.last_timestamp
            or e.event_time
            or (e.metadata.creation_timestamp if e.metadata else None)
        )
        return t.isoformat() if hasattr(t, "isoformat") else str(t or "")

    mine = [e for e in events if e.involved_object and e.involved_object.name in names]
    return sorted(mine, key=when)


def diagnose(pods: list, events: list, log_tail: str, namespace: str) -> list:
    """The shared classifier, over the API's JSON forms of pods and events."""
    return classifier.classify(
        [kube.to_dict(p) for p in pods],
        [kube.to_dict(e) for e in events],
        log_tail,
        namespace=namespace,
    )


# ------------------------------------------------------------------------ cluster access


def get_job(api_client, name: str, namespace: str) -> dict[str, Any]:
    """The PyTorchJob of that name, else the RayJob: a stack's trainingJobs render as either.
    A 404 for both is raised as the RayJob's 404."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    custom = client.CustomObjectsApi(api_client)
    try:
        job = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        job.setdefault("kind", "PyTorchJob")
    except ApiException as err:
        if err.status != 404:
            raise
        job = custom.get_namespaced_custom_object(
            rayjobs.GROUP, rayjobs.VERSION, namespace, rayjobs.PLURAL, name
        )
        job.setdefault("kind", "RayJob")
    return job


def find_elsewhere(api_client, name: str) -> list[tuple[str, str]]:
    """(kind, namespace) of each PyTorchJob and RayJob of that name in any namespace, for the
    message about a job not found where it was looked for. Empty when cluster-wide reads are
    refused (RBAC) or fail: this is only a hint."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    custom = client.CustomObjectsApi(api_client)
    found = []
    for kind, group, version, plural in (
        ("PyTorchJob", GROUP, VERSION, PLURAL),
        ("RayJob", rayjobs.GROUP, rayjobs.VERSION, rayjobs.PLURAL),
    ):
        try:
            listed = custom.list_cluster_custom_object(
                group, version, plural, field_selector=f"metadata.name={name}"
            )
        except (ApiException, HTTPError, OSError):
            continue
        found += sorted((kind, item["metadata"]["namespace"]) for item in listed.get("items") or [])
    return found


def list_pods(core, job: dict[str, Any], namespace: str) -> list:
    name = job["metadata"]["name"]
    selectors = rayjobs.pod_selectors(job) if is_ray(job) else [f"{JOB_LABEL}={name}"]
    pods = []
    for selector in selectors:  # label selectors cannot OR, so one list per selector
        pods += core.list_namespaced_pod(namespace, label_selector=selector).items
    return pods


@dataclass
class LogSource:
    """Where rank 0's lines are: a pod's container, or None with the reason there is none yet."""

    pod: str | None
    container: str
    waiting: str = ""


def log_source(job: dict[str, Any], pods: list) -> LogSource:
    if not is_ray(job):
        return LogSource(log_pod_name(job), CONTAINER)
    pod = rayjobs.submitter_pod(pods)
    return LogSource(pod, rayjobs.SUBMITTER_CONTAINER, "" if pod else rayjobs.waiting_reason(job))


@dataclass
class JobView:
    job: dict[str, Any]
    pods: list
    events: list
    log_lines: list[str]


def fetch(api_client, name: str, namespace: str) -> JobView:
    """The job, its pods, their events and rank 0's log (the previous container's when the
    current one has not started, as in CrashLoopBackOff)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api_client)
    job = get_job(api_client, name, namespace)
    pods = list_pods(core, job, namespace)
    cluster = (job.get("status") or {}).get("rayClusterName")
    names = {p.metadata.name for p in pods} | {name} | ({cluster} if cluster else set())
    events = events_for(core.list_namespaced_event(namespace).items, names)
    lines: list[str] = []
    source = log_source(job, pods)
    if source.pod in names:
        for previous in (False, True):
            try:
                lines = read_log(
                    core, source.pod, namespace, source.container, previous=previous
                ).splitlines()
            except ApiException:
                continue  # not started yet, or no previous container
            if lines:
                break
    return JobView(job, pods, events, lines)


def read_log(
    core, pod: str, namespace: str, container: str = CONTAINER, previous: bool = False
) -> str:
    """The container's log as text. Raw bytes, not the client's deserialisation, which would
    turn a log that happens to be JSON into a Python repr."""
    resp = core.read_namespaced_pod_log(
        pod, namespace, container=container, previous=previous, _preload_content=False
    )
    return resp.data.decode("utf-8", errors="replace")


def status(api_client, name: str, namespace: str, out: TextIO | None = None) -> int:
    """0 while the job runs or has succeeded; 1 when it failed."""
    out = out or sys.stdout
    view = fetch(api_client, name, namespace)
    job = view.job
    progress = logline.newest_progress(view.log_lines)
    causes = None
    if needs_diagnosis(job, view.pods):
        tail = view.log_lines[-LOG_TAIL_LINES:]
        if is_ray(job):
            tail.append(rayjobs.final_message(job))
        causes = diagnose(view.pods, view.events, "\n".join(tail), namespace)
    render = rayjobs.format_status if is_ray(job) else format_status
    print(
        render(job, view.pods, logline.newest_checkpoint(view.log_lines), causes, progress),
        file=out,
    )
    return 1 if has_failed(job) else 0


def container_state(core, pod: str, namespace: str, container: str) -> tuple[str | None, bool, str]:
    """(container ID, running, why not running) of a pod's container; the ID is None when the
    pod is gone or the container never started."""
    from kubernetes.client.rest import ApiException

    try:
        found = core.read_namespaced_pod(pod, namespace)
    except ApiException as err:
        if err.status == 404:
            return None, False, "the pod is gone"
        raise
    for cs in (found.status.container_statuses or []) if found.status else []:
        if cs.name != container or cs.state is None:
            continue
        if cs.state.running:
            return cs.container_id, True, ""
        if cs.state.terminated:
            return cs.container_id, False, f"exit {cs.state.terminated.exit_code}"
        if cs.state.waiting:
            return cs.container_id, False, cs.state.waiting.reason or "waiting"
    return None, False, "not started"


def stream_logs(
    api_client,
    name: str,
    namespace: str,
    follow: bool,
    out: TextIO | None = None,
    wait_s: float = WAIT_FOR_START_S,
    poll_s: float = 5.0,
) -> int:
    """Rank 0's log. With follow, a pod that has not started yet (scheduling, node launch, image
    pull: minutes for a GPU node; a RayJob's whole RayCluster before its submitter exists) is
    waited for, with its reason shown when it changes. When a followed container ends, this
    follows its restart (restartPolicy OnFailure resumes from the checkpoint) until the job
    finishes; its exit code is then the job's (1 if it failed)."""
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException

    out = out or sys.stdout
    core = client.CoreV1Api(api_client)
    job = get_job(api_client, name, namespace)
    view = LogView(out, tty=out.isatty())
    deadline = time.monotonic() + (wait_s if follow else 0)
    shown = None
    streamed: tuple[str, str | None] | None = None  # (pod, container ID) of the last stream
    ended_at = 0.0
    try:
        while True:
            # A RayJob's submitter pod appears (and is replaced on retry) while we wait.
            source = log_source(job, list_pods(core, job, namespace) if is_ray(job) else [])
            message, since = source.waiting, None
            if source.pod is not None and streamed is not None and is_finished(job):
                return 1 if has_failed(job) else 0
            if source.pod is not None:
                cid, running, why = container_state(core, source.pod, namespace, source.container)
                current = (source.pod, cid)
                if current == streamed:  # the container whose stream ended
                    if running:  # the connection was cut, the container runs on: catch up
                        since = int(time.monotonic() - ended_at) + 1
                    else:
                        message = (
                            f"its container ended ({why}) and the job is still {job_phase(job)}"
                        )
            if source.pod is not None and not message:
                try:
                    if follow:
                        extra = {"since_seconds": since} if since else {}
                        for line in watch.Watch().stream(
                            core.read_namespaced_pod_log,
                            source.pod,
                            namespace,
                            container=source.container,
                            follow=True,
                            **extra,
                        ):
                            view.feed(line)
                    else:
                        text = read_log(core, source.pod, namespace, source.container)
                        for line in text.splitlines():
                            view.feed(line)
                        return 0
                    streamed, ended_at = current, time.monotonic()
                    deadline, shown = ended_at + wait_s, None
                    job = get_job(api_client, name, namespace)
                    continue
                except ApiException as err:
                    if err.status not in (400, 404):
                        raise
                    message = kube.api_message(err)
            what = source.pod or f"the submitter of RayJob {name}"
            if time.monotonic() >= deadline or (source.pod is None and is_finished(job)):
                print(
                    f"trainstack logs: {what}: {message} (see `trainstack status {name} "
                    f"-n {namespace}`)",
                    file=sys.stderr,
                )
                return 1
            if message != shown:
                print(f"trainstack logs: waiting for {what}: {message}", file=sys.stderr)
                shown = message
            time.sleep(poll_s)
            job = get_job(api_client, name, namespace)
    except KeyboardInterrupt:
        return 0  # the user stopped following; the job goes on
    finally:
        view.close()
