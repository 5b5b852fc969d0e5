"""The watcher: follows the PyTorchJobs and RayJobs of one namespace and publishes one message
when a job succeeds, fails, is stopped or restarts, with the cause the classifier finds.

Per kind: list the jobs (the list's resourceVersion is where the watch starts), then watch from
there with the official client's `watch.Watch`, keeping the resourceVersion of every event (and
of BOOKMARK events, which the API server sends so a quiet watch stays resumable). A 410 Gone
(the version fell out of the API server's window) means list again. Each job's notice key
(`Failed`, `Succeeded`, `Retrying#<n>`, ...) is sent at most once, across restarts of the
watcher too (sent.py).

The jobs' pods are followed the same way (kind.pod_label): the training operator deletes a
PyTorchJob's pod it recreates before the job says Restarting, and KubeRay replaces a RayJob's
failed head or worker pod (or the kubelet restarts its container) while the RayJob stays
Running. So a failed pod is captured when it is seen failing, and its restart is told once per
incident (restarts.py, incidents.py) with the failed pod's own status, node and log. For a
failure the cause comes from those failed pods, the events about them, their log and rank 0's
(or the Ray driver's) current log, as `trainstack status` reads them (trainstack/ops/jobs.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .diagnose import Cause, classify
from .diagnose.inputs import regarding
from .kinds import KINDS, Job, WatchedKind
from .notify import message, subject
from .restarts import Restarts
from .sent import SentLog

log = logging.getLogger("jobwatch")
LOG_TAIL_LINES = 200  # what the classifier reads, as `trainstack status`
WATCH_TIMEOUT_S = 300  # one watch request; the API server caps it anyway
RETRY_S = 10.0
# A kind whose API the cluster does not serve (Kubeflow Trainer is installed only for a stack with
# a TrainJob, components/operators.py) is looked for again this often, quietly.
NOT_SERVED_RETRY_S = 300.0


class Watcher:
    def __init__(
        self,
        api_client,
        namespace: str,
        sent: SentLog,
        publish: Callable[[str, str], None],
        kinds: tuple[WatchedKind, ...] = KINDS,
    ):
        from kubernetes import client

        self.api_client, self.namespace, self.sent, self.publish = (
            api_client,
            namespace,
            sent,
            publish,
        )
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.kinds = kinds
        self.restarts = Restarts(self)
        self._silent: set[str] = set()  # streams whose next sync records without sending

    def start(self) -> None:
        """Before the first sync: on the first start ever, today's jobs are only recorded."""
        if self.sent.first_start():
            self._silent = {k.kind for k in self.kinds}
            self._silent |= {_pods(k) for k in self.kinds if k.pod_label}

    # ----------------------------------------------------------------------------- list, watch

    def sync(self, kind: WatchedKind) -> str:
        """Every job of the kind handled as it is now; the list's resourceVersion."""
        listed = self.custom.list_namespaced_custom_object(
            kind.group, kind.version, self.namespace, kind.plural
        )
        items = listed.get("items") or []
        silent = kind.kind in self._silent
        for job in items:
            self.handle(kind, job, silent=silent, relisted=True)
        self._silent.discard(kind.kind)
        uids = {j["metadata"]["uid"] for j in items}
        self.sent.keep_only(kind.kind, uids)
        if kind.pod_label:
            self.restarts.forget(uids)
        return listed["metadata"]["resourceVersion"]

    def watch_once(self, kind: WatchedKind, resource_version: str, timeout_s: int) -> str:
        """One watch request from `resource_version`; the version to go on from."""
        args = (kind.group, kind.version, self.namespace, kind.plural)
        stream = self._stream(
            self.custom.list_namespaced_custom_object, args, {}, resource_version, timeout_s
        )
        for etype, job, version in stream:
            if etype in ("ADDED", "MODIFIED"):
                self.handle(kind, job)
            resource_version = version
        return resource_version

    def sync_pods(self, kind: WatchedKind) -> str:
        """Every pod of the kind's jobs handled as it is now; the list's resourceVersion."""
        listed = self.core.list_namespaced_pod(self.namespace, label_selector=kind.pod_label)
        silent = _pods(kind) in self._silent
        for pod in listed.items:
            self.restarts.pod_seen(kind, self._json(pod), silent=silent)
        self._silent.discard(_pods(kind))
        return listed.metadata.resource_version

    def watch_pods_once(self, kind: WatchedKind, resource_version: str, timeout_s: int) -> str:
        """One watch request on the pods from `resource_version`; the version to go on from.
        A DELETED pod still carries its last status: the operator's deletion of a failed pod
        shows it failed even when its MODIFIED event was missed."""
        selector = {"label_selector": kind.pod_label}
        stream = self._stream(
            self.core.list_namespaced_pod, (self.namespace,), selector, resource_version, timeout_s
        )
        for etype, pod, version in stream:
            if etype in ("ADDED", "MODIFIED", "DELETED"):
                self.restarts.pod_seen(kind, pod, deleted=etype == "DELETED")
            resource_version = version
        return resource_version

    def _stream(self, list_fn, args: tuple, kwargs: dict, resource_version: str, timeout_s: int):
        """(event type, object as JSON, resourceVersion to go on from) of one watch request."""
        from kubernetes import watch

        stream = watch.Watch().stream(
            list_fn,
            *args,
            **kwargs,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_s,  # also: a 410 is raised to us, not retried inside
        )
        for event in stream:
            if not isinstance(event, dict):  # blank keep-alive lines
                continue
            obj = event.get("raw_object") or event.get("object") or {}
            if not isinstance(obj, dict):
                obj = self._json(obj)
            resource_version = (obj.get("metadata") or {}).get(
                "resourceVersion"
            ) or resource_version
            yield event["type"], obj, resource_version

    def follow(self, kind: WatchedKind, stop: threading.Event, rounds: int | None = None) -> None:
        """List, then watch the kind's jobs, until `stop` (or `rounds` watch requests, for
        tests)."""

        def watch_once(version: str) -> str:
            return self.watch_once(kind, version, WATCH_TIMEOUT_S)

        self._follow(kind.kind, lambda: self.sync(kind), watch_once, stop, rounds)

    def follow_pods(self, kind: WatchedKind, stop: threading.Event,
                    rounds: int | None = None) -> None:  # fmt: skip
        """List, then watch the pods of the kind's jobs, until `stop`."""

        def watch_once(version: str) -> str:
            return self.watch_pods_once(kind, version, WATCH_TIMEOUT_S)

        self._follow(_pods(kind), lambda: self.sync_pods(kind), watch_once, stop, rounds)

    def _follow(self, name: str, sync, watch_once, stop: threading.Event,
                rounds: int | None) -> None:  # fmt: skip
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        version: str | None = None
        not_served = False
        while not stop.is_set() and (rounds is None or rounds > 0):
            try:
                if version is None:
                    version = sync()
                if rounds is not None:
                    rounds -= 1
                version = watch_once(version)
            except ApiException as err:
                if err.status == 410:
                    log.info("%s watch expired (410 Gone): listing again", name)
                    version = None
                    continue
                if err.status == 404 and version is None:
                    if not not_served:
                        log.info("%s: not served by this cluster (its operator is not "
                                 "installed); looking again every %.0f s", name,
                                 NOT_SERVED_RETRY_S)  # fmt: skip
                    not_served = True
                    if rounds is not None:
                        rounds -= 1
                    stop.wait(NOT_SERVED_RETRY_S)
                    continue
                log.warning("%s: API error %s: %s", name, err.status, err.reason)
                stop.wait(RETRY_S)
            except (HTTPError, OSError) as err:
                log.warning("%s: connection error: %s", name, err)
                stop.wait(RETRY_S)
            except Exception:  # a publish that failed (its claim was released): go on watching
                log.exception("%s: handling an event failed; listing again", name)
                version = None
                stop.wait(RETRY_S)

    # -------------------------------------------------------------------------- one job's state

    def handle(
        self, kind: WatchedKind, job: Job, silent: bool = False, relisted: bool = False
    ) -> bool:
        """Notify the job's state if it is one to tell and not told yet; True if sent.
        `relisted`: the job comes from a list, after which pod failures missed meanwhile (the
        watcher was down) are looked for in the events too."""
        key = kind.notice(job)
        if key == "Restarting" or (key is None and relisted and kind.pod_label):
            # Told per incident of failed pods (restarts.py), not per condition.
            return self.restarts.from_job(kind, job, silent=silent)
        if key is None:
            return False
        meta = job["metadata"]
        previous = self.sent.claim(meta["uid"], kind.kind, key)
        if previous is False or silent:
            return False
        causes, facts = None, []
        if key in ("Succeeded", "Stopped"):
            final = kind.final_message(job)
            facts = ["", final] if key == "Stopped" and final else []
        else:
            causes, facts = self.causes(kind, job)
        self.send(kind, job, key, previous, causes, facts)
        log.info("notified %s %s/%s %s", kind.kind, self.namespace, meta["name"], key)
        return True

    def send(self, kind: WatchedKind, job: Job, key: str, previous: str | None,
             causes: list[Cause] | None, facts: list[str]) -> None:  # fmt: skip
        """Publish the message about the job's `key`, just claimed in the record (`previous`:
        the entry the claim replaced). A publish that fails gives the claim back, so the next
        event for the job retries."""
        meta = job["metadata"]
        try:
            self.publish(
                subject(kind.kind, meta["name"], self.namespace, key, causes or []),
                message(kind.kind, meta["name"], self.namespace, key, causes, facts),
            )
        except Exception:
            self.sent.release(meta["uid"], previous)
            raise

    def causes(self, kind: WatchedKind, job: Job) -> tuple[list[Cause], list[str]]:
        """The causes of the job's failure, and the lines naming its failed pods."""
        models, pods, events = self.pods_and_events(kind, job)
        tails, facts, read = [], [], set()
        if kind.pod_label:
            failed, facts = self.restarts.for_failure(kind, job, pods, events)
            have = {(p.get("metadata") or {}).get("uid") for p in pods}
            pods += [f.pod for f in failed if f.pod["metadata"].get("uid") not in have]
            tails = [f.log_tail for f in failed if f.log_tail]
            # A failed pod that is still there is the pod of its name now: its log is in already.
            read = {f.name for f in failed if f.log_tail and f.uid in have}
        names = {(p.get("metadata") or {}).get("name") for p in pods} | {job["metadata"]["name"]}
        source = kind.log_source(job, models)
        if source is not None and source[0] in names and source[0] not in read:
            for previous in (False, True) if kind.previous_logs else (False,):
                tail = self.read_log(source[0], source[1], previous=previous)
                if tail:
                    tails.append(tail)
                    break
        final = kind.final_message(job)
        tail = "\n".join(x for x in (*tails, final) if x)
        nodes, node_events = self.nodes_of(pods)
        causes = classify(pods, events + node_events, tail, namespace=self.namespace, nodes=nodes)
        return causes, facts

    # ------------------------------------------------------------------------ what it reads

    def pods_and_events(self, kind: WatchedKind, job: Job) -> tuple[list, list[dict], list[dict]]:
        """The job's pods (as models and as JSON) and the events about them, the job and what
        belongs to it."""
        models = []
        for selector in kind.pod_selectors(job):
            models += self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        names = {p.metadata.name for p in models} | {job["metadata"]["name"]}
        names |= kind.related_names(job)
        events = self.events()
        if kind.pod_label:  # a deleted pod's name is its replacement's: its events stay
            names |= {
                str(regarding(e).get("name"))
                for e in events
                if regarding(e).get("kind") == "Pod"
                and kind.names_pod(job, str(regarding(e).get("name")))
            }
        return (
            models,
            [self._json(p) for p in models],
            [e for e in events if regarding(e).get("name") in names],
        )

    def events(self) -> list[dict[str, Any]]:
        return self._json(self.core.list_namespaced_event(self.namespace))["items"]

    # ------------------------------------------------------------------------------ nodes

    def read_nodes(self, names) -> dict[str, dict[str, Any]] | None:
        """The Node objects of that name that exist (a node replaced since is missing); None
        when the watcher may not read nodes (a stack deployed before its ClusterRole)."""
        from kubernetes.client.rest import ApiException

        found = {}
        for name in sorted({n for n in names if n}):
            try:
                found[name] = self._json(self.core.read_node(name))
            except ApiException as err:
                if err.status == 403:
                    return None
                if err.status != 404:
                    raise
        return found

    def node_events(self) -> list[dict[str, Any]]:
        """Events about nodes: the API server keeps those of cluster-scoped objects in the
        default namespace. [] when the watcher may not read them."""
        from kubernetes.client.rest import ApiException

        try:
            listed = self.core.list_namespaced_event(
                "default", field_selector="involvedObject.kind=Node"
            )
        except ApiException as err:
            if err.status in (403, 404):
                return []
            raise
        return self._json(listed)["items"]

    def nodes_of(self, pods: list[dict[str, Any]]) -> tuple[list[dict[str, Any]] | None, list]:
        """The classifier's view of the pods' nodes: the Node objects still there (None: not
        readable) and the events about those nodes."""
        names = {str((p.get("spec") or {}).get("nodeName") or "") for p in pods} - {""}
        if not names:
            return [], []
        nodes = self.read_nodes(names)
        if nodes is None:
            return None, []
        about = [e for e in self.node_events() if regarding(e).get("name") in names]
        return list(nodes.values()), about

    def get_job(self, kind: WatchedKind, name: str) -> Job | None:
        from kubernetes.client.rest import ApiException

        if not name:
            return None
        try:
            return self.custom.get_namespaced_custom_object(
                kind.group, kind.version, self.namespace, kind.plural, name
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def pod_uid(self, name: str) -> str | None:
        """The uid of the pod of that name now; None when there is none."""
        from kubernetes.client.rest import ApiException

        try:
            return self.core.read_namespaced_pod(name, self.namespace).metadata.uid
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def read_log(self, pod: str, container: str, previous: bool) -> str:
        """The pod's log tail; '' when there is none (not started, deleted, no previous)."""
        from kubernetes.client.rest import ApiException

        try:
            resp = self.core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                previous=previous,
                tail_lines=LOG_TAIL_LINES,
                _preload_content=False,
            )
        except ApiException:
            return ""
        return self._text(resp)

    def _json(self, model) -> dict[str, Any]:
        """A model as the API's JSON (camelCase keys), the form the classifier reads."""
        return self.api_client.sanitize_for_serialization(model)

    @staticmethod
    def _text(resp) -> str:
        return resp.data.decode("utf-8", errors="replace")


def _pods(kind: WatchedKind) -> str:
    return f"pods:{kind.kind}"


def run(watcher: Watcher, stop: threading.Event, alarms=None) -> None:
    """Every kind, and the pods of kinds that follow pods, in its own thread until `stop`
    (SIGTERM), and the `alarms` poll (alarms.Alarms) in one more. The threads are daemons: one
    inside a watch request would otherwise hold the pod for up to WATCH_TIMEOUT_S."""
    watcher.start()
    if alarms is not None:
        threading.Thread(target=alarms.follow, args=(stop,), name="alarms", daemon=True).start()
    for k in watcher.kinds:
        threading.Thread(target=watcher.follow, args=(k, stop), name=k.kind, daemon=True).start()
        if k.pod_label:
            threading.Thread(
                target=watcher.follow_pods, args=(k, stop), name=_pods(k), daemon=True
            ).start()
    stop.wait()
