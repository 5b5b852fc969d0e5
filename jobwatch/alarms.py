"""The watcher's alarms about jobs that still run: a hung job (progress.py), a job restarting in
a loop (restart_loop.py), a GPU fault on a node that runs the job (node_faults.py), and a job
preempted by Kueue or waiting in its queue too long (queue_alarms.py). A thread
of its own polls every POLL_S: the job watches of watcher.py see state changes, and a hung job
changes nothing.

Per running job it reads rank 0's log tail through the pods/log subresource with the API
server's timestamps (the Role already grants it for the classifier; the trainer's pods get no
API access), and per job not finished the failure times restarts.py keeps. Each alarm is sent
once, through the same record and publish path as the job's other messages (sent.py,
Watcher.send): a hang once per step it stopped at, a loop once per window of restarts.

For the GPU-fault alarm it reads the Node objects of the job's pods and the events about nodes
(the watcher's ClusterRole grants nodes get/list and events list; a stack deployed before it
only loses this alarm).

Settings come from the Deployment's environment (components/jobwatch_manifests.py, from the
stack's `notifications.alarms` and `nodeHealth.autoRepair`): ENV_* below; unset keeps the
defaults of HungRule and LoopRule, and says repair is on. A job may carry its own hung factor
(`trainingJobs.<job>.hungFactor`, validated by the stack) as the annotation
HUNG_FACTOR_ANNOTATION on its object (components/training_job.py renders it); the watcher reads
it from the job it lists, so a changed factor counts from the next poll.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from . import node_faults, progress, restart_loop
from .diagnose import classify
from .env_values import positive_number
from .kinds import Job, WatchedKind
from .progress import HungRule
from .queue_alarms import ENV_QUEUE_WAIT_S, QueueAlarms
from .restart_loop import LoopRule

log = logging.getLogger("jobwatch.alarms")
POLL_S = 60.0
TAIL_LINES = 500  # step lines every log_interval steps, among NCCL's and the libraries' lines
ENV_HUNG_FACTOR = "JOBWATCH_HUNG_FACTOR"
ENV_HUNG_FLOOR_S = "JOBWATCH_HUNG_FLOOR_S"
ENV_LOOP_COUNT = "JOBWATCH_LOOP_RESTARTS"
ENV_LOOP_WINDOW_S = "JOBWATCH_LOOP_WINDOW_S"
ENV_NODE_REPAIR = "JOBWATCH_NODE_REPAIR"  # "true" or "false": whether node repair is on
HUNG = "Hung#"
HUNG_FACTOR_ANNOTATION = "trainstack.io/hung-factor"


@dataclass(frozen=True)
class Settings:
    hung: HungRule = field(default_factory=HungRule)
    loop: LoopRule = field(default_factory=LoopRule)
    node_repair: bool = True  # the stack's nodeHealth.autoRepair, for the GPU-fault remedy
    # A job pending in its Kueue queue this long is told (queue_alarms.py); queueWaitMinutes.
    queue_wait_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The rules from the Deployment's environment; a value that is not a positive number
        raises ValueError naming the variable (the stack validates them before they get here)."""

        def number(name: str, default: float) -> float:
            return positive_number(env, name, default)

        hung, loop = HungRule(), LoopRule()
        repair = (env.get(ENV_NODE_REPAIR) or "true").lower()
        if repair not in ("true", "false"):
            raise ValueError(f"{ENV_NODE_REPAIR}={repair!r}: expected true or false")
        return cls(
            HungRule(
                factor=number(ENV_HUNG_FACTOR, hung.factor),
                floor_s=number(ENV_HUNG_FLOOR_S, hung.floor_s),
            ),
            LoopRule(
                count=int(number(ENV_LOOP_COUNT, loop.count)),
                window_s=number(ENV_LOOP_WINDOW_S, loop.window_s),
            ),
            node_repair=repair == "true",
            queue_wait_s=number(ENV_QUEUE_WAIT_S, cls.queue_wait_s),
        )

    @classmethod
    def from_os(cls) -> Settings:
        return cls.from_env(os.environ)


def hung_rule(job: Job, stack: HungRule) -> HungRule:
    """The rule a job is judged by: the stack's, with the job's own factor when its object
    carries one. A value that is not a positive number (an object edited by hand) keeps the
    stack's factor, and is logged."""
    text = ((job.get("metadata") or {}).get("annotations") or {}).get(HUNG_FACTOR_ANNOTATION)
    if text is None:
        return stack
    try:
        factor = float(text)
    except ValueError:
        factor = -1.0
    if not (math.isfinite(factor) and factor > 0):
        log.warning(
            "%s=%r: not a positive number; using %g", HUNG_FACTOR_ANNOTATION, text, stack.factor
        )
        return stack
    return replace(stack, factor=factor)


def hung_facts(name: str, namespace: str, verdict: progress.Verdict, rule: HungRule) -> list[str]:
    minutes = verdict.quiet_s / 60
    return [
        "",
        f"No step progress for {minutes:.0f} min: rank 0 printed step {verdict.step} last, and "
        f"its recent steps took {verdict.step_time_s:.3g} s each (a progress line every "
        f"{verdict.line_s:.3g} s). Hung means no trainer output for {rule.factor:g} x that, at "
        f"least {rule.floor_s / 60:g} min and twice the longest checkpoint or evaluation pause "
        f"in the log: here {verdict.limit_s / 60:.0f} min. The pods still run: a slow job keeps "
        "printing steps, a hung one stops.",
        "",
        "Remedy: a rank most likely waits in a collective for a peer that stopped (a lost or "
        "stuck rank, a data read that never returns, a failing GPU or network link). Read the "
        f"ranks' logs (trainstack logs {name} -n {namespace}; kubectl logs for the other pods) "
        "for the rank that is behind or silent, and its node's conditions (trainstack doctor); "
        "then delete the job's pods so the operator restarts them from the last checkpoint, "
        "cordoning that node first if it is at fault. If the job is only pausing longer than "
        "this (very long checkpoint saves or evaluations), raise its own "
        f"trainingJobs.{name}.hungFactor, or the stack's notifications.alarms.hungFactor or "
        "hungFloorMinutes.",
    ]


def loop_facts(loop: restart_loop.Loop, rule: LoopRule) -> list[str]:
    return [
        "",
        f"{len(loop.restarts)} restarts within {rule.window_s / 60:.0f} min (alarm at "
        f"{rule.count}); the newest failure's cause is below.",
        "",
        "Remedy: the job fails the same way again after each restart and will go on until its "
        "backoffLimit or activeDeadlineSeconds. Fix the cause below (its remedy says how), or "
        "suspend the job meanwhile (trainingJobs.<job>.suspend = true, then pulumi up) so it "
        "stops holding GPU nodes.",
    ]


class Alarms:
    def __init__(self, watcher, settings: Settings, clock: Callable[[], float] = time.time):
        self.w, self.settings, self.clock = watcher, settings, clock

    def poll(self) -> int:
        """Every job of every kind checked once; the number of alarms sent."""
        from kubernetes.client.rest import ApiException

        sent = 0
        queue = QueueAlarms(self, self.settings.queue_wait_s, self.clock)
        for kind in self.w.kinds:
            try:
                listed = self.w.custom.list_namespaced_custom_object(
                    kind.group, kind.version, self.w.namespace, kind.plural
                )
            except ApiException as err:
                if err.status == 404:  # not served: its operator is not installed (a TrainJob's)
                    continue
                raise
            for job in listed.get("items") or []:
                if kind.running(job):
                    sent += self.check_hung(kind, job)
                if kind.notice(job) not in ("Succeeded", "Failed", "Stopped"):
                    sent += self.check_loop(kind, job)
                    sent += self.check_nodes(kind, job)
                    sent += queue.check(kind, job)
        return sent

    def follow(self, stop: threading.Event) -> None:
        while not stop.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # an API error or a failed publish: the next poll tries again
                log.exception("alarms: a poll failed")

    # --------------------------------------------------------------- the job's pods, its log

    def pods(self, kind: WatchedKind, job: Job) -> list:
        models = []
        for selector in kind.pod_selectors(job):
            models += self.w.core.list_namespaced_pod(
                self.w.namespace, label_selector=selector
            ).items
        return models

    def rank0_log(self, kind: WatchedKind, job: Job, models: list, timestamps: bool) -> str | None:
        """Rank 0's log tail; None when its pod has no log yet."""
        from kubernetes.client.rest import ApiException

        source = kind.log_source(job, models)
        if source is None:
            return None
        try:
            resp = self.w.core.read_namespaced_pod_log(
                source[0],
                self.w.namespace,
                container=source[1],
                tail_lines=TAIL_LINES,
                timestamps=timestamps,
                _preload_content=False,
            )
        except ApiException:
            return None
        return resp.data.decode("utf-8", errors="replace")

    # ----------------------------------------------------------------------------- hung job

    def series(self, kind: WatchedKind, job: Job) -> progress.Series | None:
        """Rank 0's log tail as a series; None when its pod has no log yet."""
        text = self.rank0_log(kind, job, self.pods(kind, job), timestamps=True)
        return None if text is None else progress.read_series(text)

    def check_hung(self, kind: WatchedKind, job: Job) -> bool:
        series = self.series(kind, job)
        if series is None:
            return False
        rule = hung_rule(job, self.settings.hung)
        verdict = progress.judge(series, self.clock(), rule)
        if verdict.state != "hung":
            return False
        meta = job["metadata"]
        key = f"{HUNG}{verdict.step}"
        previous = self.w.sent.claim(meta["uid"], kind.kind, key)
        if previous is False:
            return False
        facts = hung_facts(meta["name"], self.w.namespace, verdict, rule)
        self.w.send(kind, job, key, previous, None, facts)
        log.info("hung %s %s/%s at step %s", kind.kind, self.w.namespace, meta["name"], key)
        return True

    # ------------------------------------------------------------------------- restart loop

    def check_loop(self, kind: WatchedKind, job: Job) -> bool:
        meta = job["metadata"]
        failures = list(self.w.restarts.failures.get(meta["uid"], []))
        loop = restart_loop.judge([f.at for f in failures], self.clock(), self.settings.loop)
        if loop is None:
            return False
        previous = self.w.sent.claim(meta["uid"], kind.kind, loop.key, loop.covered)
        if previous is False:
            return False
        newest = failures[-1]
        causes = classify([newest.pod], [], newest.log_tail, namespace=self.w.namespace)
        facts = [*loop_facts(loop, self.settings.loop), f"Newest: {newest.describe()}."]
        self.w.send(kind, job, loop.key, previous, causes, facts)
        log.info("restart loop %s %s/%s", kind.kind, self.w.namespace, meta["name"])
        return True

    # ---------------------------------------------------------------------- GPU fault on a node

    def check_nodes(self, kind: WatchedKind, job: Job) -> int:
        """One message per GPU fault on a node that runs the job's pods; the number sent."""
        models = self.pods(kind, job)
        pods_on: dict[str, list[str]] = {}
        for p in models:
            if p.spec and p.spec.node_name and not _finished(p):
                pods_on.setdefault(p.spec.node_name, []).append(p.metadata.name)
        if not pods_on:
            return 0
        nodes = self.w.read_nodes(pods_on)
        if nodes is None:
            return 0
        found = node_faults.judge(pods_on, nodes, self.w.node_events())
        meta, sent, tail = job["metadata"], 0, None
        for alarm in found:
            previous = self.w.sent.claim(meta["uid"], kind.kind, alarm.key)
            if previous is False:
                continue
            if tail is None:  # read once, when there is something to tell
                tail = self.rank0_log(kind, job, models, timestamps=False) or ""
            step = node_faults.checkpoint_step(tail)
            facts = node_faults.facts(
                alarm, meta["name"], self.w.namespace, repair=self.settings.node_repair, step=step
            )
            self.w.send(kind, job, alarm.key, previous, None, facts)
            log.info("GPU fault on %s for %s %s/%s", alarm.node, kind.kind, self.w.namespace,
                     meta["name"])  # fmt: skip
            sent += 1
        return sent


def _finished(pod) -> bool:
    return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))
