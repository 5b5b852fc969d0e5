"""The watcher: follows the PyTorchJobs and RayJobs of one namespace and publishes one message
when a job succeeds, fails or restarts, with the cause the classifier finds.

Per kind: list the jobs (the list's resourceVersion is where the watch starts), then watch from
there with the official client's `watch.Watch`, keeping the resourceVersion of every event (and
of BOOKMARK events, which the API server sends so a quiet watch stays resumable). A 410 Gone
(the version fell out of the API server's window) means list again. Each job's notice key
(`Failed`, `Succeeded`, `Restarting#<when>`, ...) is sent at most once, across restarts of the
watcher too (sent.py).

For a failure or restart the cause comes from the job's pods, the events about them and rank
0's log tail (the current container's, else the previous one's), as `trainstack status` reads
them (trainstack/ops/jobs.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .diagnose import Cause, classify
from .kinds import KINDS, Job, WatchedKind
from .notify import message, subject
from .sent import SentLog

log = logging.getLogger("jobwatch")
LOG_TAIL_LINES = 200  # what the classifier reads, as `trainstack status`
WATCH_TIMEOUT_S = 300  # one watch request; the API server caps it anyway
RETRY_S = 10.0


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
        self._silent: set[str] = set()  # kinds whose next sync records without sending

    def start(self) -> None:
        """Before the first sync: on the first start ever, today's jobs are only recorded."""
        if self.sent.first_start():
            self._silent = {k.kind for k in self.kinds}

    # ----------------------------------------------------------------------------- list, watch

    def sync(self, kind: WatchedKind) -> str:
        """Every job of the kind handled as it is now; the list's resourceVersion."""
        listed = self.custom.list_namespaced_custom_object(
            kind.group, kind.version, self.namespace, kind.plural
        )
        items = listed.get("items") or []
        silent = kind.kind in self._silent
        for job in items:
            self.handle(kind, job, silent=silent)
        self._silent.discard(kind.kind)
        self.sent.keep_only(kind.kind, {j["metadata"]["uid"] for j in items})
        return listed["metadata"]["resourceVersion"]

    def watch_once(self, kind: WatchedKind, resource_version: str, timeout_s: int) -> str:
        """One watch request from `resource_version`; the version to go on from."""
        from kubernetes import watch

        stream = watch.Watch().stream(
            self.custom.list_namespaced_custom_object,
            kind.group,
            kind.version,
            self.namespace,
            kind.plural,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_s,  # also: a 410 is raised to us, not retried inside
        )
        for event in stream:
            if not isinstance(event, dict):  # blank keep-alive lines
                continue
            job = event.get("raw_object") or event.get("object") or {}
            meta = job.get("metadata") or {}
            resource_version = meta.get("resourceVersion") or resource_version
            if event["type"] in ("ADDED", "MODIFIED"):
                self.handle(kind, job)
        return resource_version

    def follow(self, kind: WatchedKind, stop: threading.Event, rounds: int | None = None) -> None:
        """List, then watch, until `stop` (or `rounds` watch requests, for tests)."""
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        version: str | None = None
        while not stop.is_set() and (rounds is None or rounds > 0):
            try:
                if version is None:
                    version = self.sync(kind)
                if rounds is not None:
                    rounds -= 1
                version = self.watch_once(kind, version, WATCH_TIMEOUT_S)
            except ApiException as err:
                if err.status == 410:
                    log.info("%s watch expired (410 Gone): listing again", kind.kind)
                    version = None
                    continue
                log.warning("%s: API error %s: %s", kind.kind, err.status, err.reason)
                stop.wait(RETRY_S)
            except (HTTPError, OSError) as err:
                log.warning("%s: connection error: %s", kind.kind, err)
                stop.wait(RETRY_S)
            except Exception:  # a publish that failed (its claim was released): go on watching
                log.exception("%s: handling an event failed; listing again", kind.kind)
                version = None
                stop.wait(RETRY_S)

    # -------------------------------------------------------------------------- one job's state

    def handle(self, kind: WatchedKind, job: Job, silent: bool = False) -> bool:
        """Notify the job's state if it is one to tell and not told yet; True if sent."""
        key = kind.notice(job)
        if key is None:
            return False
        meta = job["metadata"]
        previous = self.sent.claim(meta["uid"], kind.kind, key)
        if previous is False or silent:
            return False
        name = meta["name"]
        causes = None if key == "Succeeded" else self.causes(kind, job)
        try:
            self.publish(
                subject(kind.kind, name, self.namespace, key, causes or []),
                message(kind.kind, name, self.namespace, key, causes),
            )
        except Exception:
            self.sent.release(meta["uid"], previous)  # the next event for the job retries
            raise
        log.info("notified %s %s/%s %s", kind.kind, self.namespace, name, key)
        return True

    def causes(self, kind: WatchedKind, job: Job) -> list[Cause]:
        from kubernetes.client.rest import ApiException

        pods = []
        for selector in kind.pod_selectors(job):
            pods += self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        names = {p.metadata.name for p in pods} | {job["metadata"]["name"]}
        names |= kind.related_names(job)
        events = [
            e
            for e in self._json(self.core.list_namespaced_event(self.namespace))["items"]
            if ((e.get("involvedObject") or e.get("regarding") or {}).get("name")) in names
        ]
        tail = ""
        source = kind.log_source(job, pods)
        if source is not None and source[0] in names:
            for previous in (False, True):
                try:
                    tail = self._text(
                        self.core.read_namespaced_pod_log(
                            source[0],
                            self.namespace,
                            container=source[1],
                            previous=previous,
                            tail_lines=LOG_TAIL_LINES,
                            _preload_content=False,
                        )
                    )
                except ApiException:
                    continue  # not started, or no previous container
                if tail:
                    break
        final = kind.final_message(job)
        return classify(
            [self._json(p) for p in pods],
            events,
            "\n".join(x for x in (tail, final) if x),
            namespace=self.namespace,
        )

    def _json(self, model) -> dict[str, Any]:
        """A model as the API's JSON (camelCase keys), the form the classifier reads."""
        return self.api_client.sanitize_for_serialization(model)

    @staticmethod
    def _text(resp) -> str:
        return resp.data.decode("utf-8", errors="replace")


def run(watcher: Watcher, stop: threading.Event) -> None:
    """Every kind in its own thread until `stop` (SIGTERM). The threads are daemons: one inside
    a watch request would otherwise hold the pod for up to WATCH_TIMEOUT_S."""
    watcher.start()
    for k in watcher.kinds:
        threading.Thread(target=watcher.follow, args=(k, stop), name=k.kind, daemon=True).start()
    stop.wait()
