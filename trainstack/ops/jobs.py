"""`trainstack status JOB` and `trainstack logs JOB`: a training job as its user sees it.

The same code for every kind of job: what differs between a PyTorchJob and a RayJob (where the
objects are, their state, their pods, rank 0's log, how status is drawn) is each kind's
`JobKind` (pytorchjob.py, rayjob.py), looked up in job_kinds.KINDS; a new kind needs no change
here. job_view.py draws what all kinds show; admission.py adds Kueue's view of any kind of job
(its Workload's state and queue position). Only these two modules talk to a cluster.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from jobwatch import diagnose as classifier
from trainer import logline

from . import admission, kube
from .job_kinds import KINDS, kind_of
from .job_view import LogView, pod_problem

LOG_TAIL_LINES = 200  # what the classifier sees of the master's log
# logs -f waits this long for rank 0 to start: a new GPU node plus an image pull takes minutes.
WAIT_FOR_START_S = 900


def needs_diagnosis(job: dict[str, Any], pods: list) -> bool:
    return kind_of(job).failed(job) or any(pod_problem(p) for p in pods)


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


def diagnose(
    pods: list, events: list, log_tail: str, namespace: str, nodes: list | None = None
) -> list:
    """The shared classifier, over the API's JSON forms of pods, events and the pods' nodes
    (None: not read)."""
    return classifier.classify(
        [kube.to_dict(p) for p in pods],
        [kube.to_dict(e) for e in events],
        log_tail,
        namespace=namespace,
        nodes=None if nodes is None else [kube.to_dict(n) for n in nodes],
    )


def read_nodes(core, pods: list) -> tuple[list | None, list]:
    """The pods' nodes that still exist (a replaced node is gone: 404) and the events about
    them, which the API server keeps in the default namespace; (None, []) when nodes may not be
    read."""
    from kubernetes.client.rest import ApiException

    names = sorted({p.spec.node_name for p in pods if p.spec and p.spec.node_name})
    nodes = []
    for name in names:
        try:
            nodes.append(core.read_node(name))
        except ApiException as err:
            if err.status in (401, 403):
                return None, []
            if err.status != 404:
                raise
    if not names:
        return nodes, []
    try:
        listed = core.list_namespaced_event("default", field_selector="involvedObject.kind=Node")
    except ApiException as err:
        if err.status not in (401, 403, 404):
            raise
        return nodes, []
    return nodes, [e for e in listed.items if e.involved_object and e.involved_object.name in names]


def get_job(api_client, name: str, namespace: str) -> dict[str, Any]:
    """The job of that name of the first kind in KINDS that has one: a stack's trainingJobs
    render as any of them. A 404 for every kind is raised as the last kind's 404."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    custom = client.CustomObjectsApi(api_client)
    missing: ApiException | None = None
    for kind in KINDS:
        try:
            job = custom.get_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, name
            )
        except ApiException as err:
            if err.status != 404:
                raise
            missing = err
            continue
        job.setdefault("kind", kind.kind)
        return job
    assert missing is not None
    raise missing


def find_elsewhere(api_client, name: str) -> list[tuple[str, str]]:
    """(kind, namespace) of each job of that name, of any kind in KINDS, in any namespace, for the
    message about a job not found where it was looked for. Empty when cluster-wide reads are
    refused (RBAC) or fail: this is only a hint."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    custom = client.CustomObjectsApi(api_client)
    found = []
    for kind in KINDS:
        try:
            listed = custom.list_cluster_custom_object(
                kind.group, kind.version, kind.plural, field_selector=f"metadata.name={name}"
            )
        except (ApiException, HTTPError, OSError):
            continue
        found += sorted(
            (kind.kind, item["metadata"]["namespace"]) for item in listed.get("items") or []
        )
    return found


def list_pods(core, job: dict[str, Any], namespace: str) -> list:
    pods = []
    for selector in kind_of(job).pod_selectors(job):  # selectors cannot OR: one list each
        pods += core.list_namespaced_pod(namespace, label_selector=selector).items
    return pods


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
    names = {p.metadata.name for p in pods} | {name} | kind_of(job).related_names(job)
    events = events_for(core.list_namespaced_event(namespace).items, names)
    lines: list[str] = []
    source = kind_of(job).log_source(job, pods)
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


def read_log(core, pod: str, namespace: str, container: str, previous: bool = False) -> str:
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
    kind = kind_of(job)
    progress = logline.newest_progress(view.log_lines)
    causes = None
    if needs_diagnosis(job, view.pods):
        tail = view.log_lines[-LOG_TAIL_LINES:]
        final = kind.final_message(job)
        if final:
            tail.append(final)
        from kubernetes import client

        # A node that failed under a pod (a GPU XID, a lost network) is the cause to name.
        nodes, node_events = read_nodes(client.CoreV1Api(api_client), view.pods)
        causes = diagnose(view.pods, view.events + node_events, "\n".join(tail), namespace, nodes)
    text = kind.format_status(
        job, view.pods, logline.newest_checkpoint(view.log_lines), causes, progress
    )
    # Kueue's view of the job, the same for every kind, under the kind's first line.
    head, _, rest = text.partition("\n")
    queue = admission.queue_lines(api_client, job)
    print("\n".join([head, *queue, *([rest] if rest else [])]), file=out)
    return 1 if kind.failed(job) else 0


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
    follows its restart (restartPolicy ExitCode recreates the pod, which resumes from the
    checkpoint) until the job finishes; its exit code is then the job's (1 if it failed)."""
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
            kind = kind_of(job)
            pods = list_pods(core, job, namespace) if kind.log_reads_pods else []
            source = kind.log_source(job, pods)
            message, since = source.waiting, None
            if source.pod is not None and streamed is not None and kind.finished(job):
                return 1 if kind.failed(job) else 0
            if source.pod is not None:
                cid, running, why = container_state(core, source.pod, namespace, source.container)
                current = (source.pod, cid)
                if current == streamed:  # the container whose stream ended
                    if running:  # the connection was cut, the container runs on: catch up
                        since = int(time.monotonic() - ended_at) + 1
                    else:
                        message = (
                            f"its container ended ({why}) and the job is still {kind.phase(job)}"
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
            what = source.pod or source.awaited
            if time.monotonic() >= deadline or (source.pod is None and kind.finished(job)):
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
