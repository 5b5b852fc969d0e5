"""The idle-GPU alarm: a GPU node whose busiest GPU stayed below `notifications.alarms.
idleGpuPercent` utilization for `idleGpuMinutes` is told to the notifications topic once per
idle stretch, naming the node, its pool, instance type, $/h and what to do.

The series is Container Insights' `node_gpu_utilization` for the node's dimension set
{ClusterName, NodeName, InstanceId} (aws/amazon-cloudwatch-agent v1.300070.0,
translator/translate/otel/exporter/awsemf/kubernetes.go getGPUMetricDeclarations; the add-on's
DCGM exporter feeds it from DCGM_FI_DEV_GPU_UTIL). Each of a node's GPUs reports under that set
every minute, so the Maximum of a minute is its busiest GPU: the node is idle only when every
GPU is. It is read with GetMetricData, one MetricStat per GPU node the watcher lists (the nodes
and their instance ids come from the API, so no search is needed), PERIOD_S apart.

`judge` is the rule, pure over recorded samples; IdleAlarm reads, judges and sends. A node seen
busy again is re-armed (its record dropped), so the next idle stretch is told again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from .env_values import positive_number
from .fleet import Node, Prices
from .notify import SUBJECT_MAX

log = logging.getLogger("jobwatch.idle_gpu")

CONTAINER_INSIGHTS = "ContainerInsights"
UTILIZATION = "node_gpu_utilization"
NODE_DIMENSIONS = ("ClusterName", "NodeName", "InstanceId")
PERIOD_S = 60  # Container Insights' collection interval
STAT = "Maximum"
QUERIES_PER_CALL = 500  # GetMetricData's limit of queries per request
ENV_PERCENT = "JOBWATCH_IDLE_GPU_PERCENT"
ENV_WINDOW_S = "JOBWATCH_IDLE_GPU_S"
KIND, KEY = "Node", "IdleGpu"  # the record's entry for a node (sent.py)


@dataclass(frozen=True)
class IdleRule:
    percent: float = 5.0  # every GPU below this ...
    window_s: float = 1800.0  # ... for this long
    # A stretch with no sample for longer than this (the agent restarting, a node just joined)
    # is not known to be idle: it starts again after the gap.
    max_gap_s: float = 3 * PERIOD_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IdleRule:
        """The rule from the Deployment's environment; a value that is not a positive number
        raises ValueError naming the variable (the stack validates them before)."""
        default = cls()
        return cls(
            positive_number(env, ENV_PERCENT, default.percent),
            positive_number(env, ENV_WINDOW_S, default.window_s),
        )

    @classmethod
    def from_os(cls) -> IdleRule:
        return cls.from_env(os.environ)


@dataclass(frozen=True)
class Verdict:
    idle: bool
    busy: bool  # the newest sample is at or above the threshold
    since: float | None = None  # when the quiet stretch the samples show began
    peak: float = 0.0  # the highest utilization within that stretch


def judge(samples: Sequence[tuple[float, float]], now: float, rule: IdleRule) -> Verdict:
    """`samples`: (epoch seconds, percent) of one node, any order. Idle when the newest is
    recent (within max_gap_s), and the samples going back from it stay below the threshold,
    with no gap over max_gap_s, to at least window_s before now."""
    ordered = sorted(samples)
    if not ordered or now - ordered[-1][0] > rule.max_gap_s:
        return Verdict(idle=False, busy=False)
    if ordered[-1][1] >= rule.percent:
        return Verdict(idle=False, busy=True)
    start, peak, later = ordered[-1][0], ordered[-1][1], ordered[-1][0]
    for at, value in reversed(ordered[:-1]):
        if value >= rule.percent or later - at > rule.max_gap_s:
            break
        start, peak, later = at, max(peak, value), at
    return Verdict(idle=now - start >= rule.window_s, busy=False, since=start, peak=peak)


# ---------------------------------------------------------------------------------- reading


def _queries(cluster: str, nodes: Sequence[Node]) -> list[dict]:
    return [
        {
            "Id": f"n{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": CONTAINER_INSIGHTS,
                    "MetricName": UTILIZATION,
                    "Dimensions": [
                        {"Name": "ClusterName", "Value": cluster},
                        {"Name": "NodeName", "Value": n.name},
                        {"Name": "InstanceId", "Value": n.instance_id},
                    ],
                },
                "Period": PERIOD_S,
                "Stat": STAT,
            },
            "ReturnData": True,
        }
        for i, n in enumerate(nodes)
    ]


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def read_utilization(
    cloudwatch, cluster: str, nodes: Sequence[Node], start: float, end: float
) -> dict[str, list[tuple[float, float]]]:
    """Node name -> its (epoch seconds, percent) samples between start and end."""
    out: dict[str, list[tuple[float, float]]] = {n.name: [] for n in nodes}
    by_id = {f"n{i}": n.name for i, n in enumerate(nodes)}
    for batch in _batches(_queries(cluster, nodes), QUERIES_PER_CALL):
        kwargs = {
            "MetricDataQueries": batch,
            "StartTime": datetime.fromtimestamp(start, timezone.utc),
            "EndTime": datetime.fromtimestamp(end, timezone.utc),
        }
        while True:
            resp = cloudwatch.get_metric_data(**kwargs)
            for result in resp.get("MetricDataResults") or []:
                name = by_id[result["Id"]]
                out[name] += [
                    (t.timestamp(), float(v))
                    for t, v in zip(result.get("Timestamps") or [], result.get("Values") or [])
                ]
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
    return out


# ---------------------------------------------------------------------------------- telling


@dataclass(frozen=True)
class IdleNode:
    node: Node
    verdict: Verdict
    now: float
    pods: tuple[str, ...]  # the jobs namespace's running pods on it


def subject(idle: IdleNode, prices: Prices) -> str:
    price = prices.of(idle.node.instance_type)
    cost = f", ${price:.2f}/h" if price is not None else ""
    minutes = (idle.now - (idle.verdict.since or idle.now)) / 60
    text = f"trainstack: GPU node {idle.node.name} idle {minutes:.0f} min ({idle.node.pool}{cost})"
    text = text.encode("ascii", "replace").decode()
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 3] + "..."


def message(idle: IdleNode, rule: IdleRule, prices: Prices, cluster: str, namespace: str) -> str:
    n, v = idle.node, idle.verdict
    minutes = (idle.now - (v.since or idle.now)) / 60
    kind = "a Karpenter NodePool" if n.karpenter else "a managed node group"
    lines = [
        f"GPU node {n.name} of cluster {cluster} has been idle for at least {minutes:.0f} "
        f"min: every GPU on it stayed below {rule.percent:g}% utilization (the busiest reached "
        f"{v.peak:.0f}%; Container Insights' {UTILIZATION}, alarm after "
        f"{rule.window_s / 60:g} min).",
        "",
        f"Node: pool {n.pool} ({kind}), {n.instance_type}, {n.capacity_type}, instance "
        f"{n.instance_id or 'unknown'}.",
        f"Cost: {prices.describe(n.instance_type, spot=n.capacity_type == 'spot')}.",
    ]
    if idle.pods:
        lines.append(f"Pods on it in namespace {namespace}: {', '.join(idle.pods)}.")
        remedy = (
            "a job's pod holds this node without using its GPUs: it may wait for data or a "
            "peer, or have stopped working without exiting. Look at it (trainstack status "
            f"<job> -n {namespace}, trainstack logs <job> -n {namespace}) and stop it if it "
            "makes no progress (trainingJobs.<job>.suspend = true, then pulumi up)."
        )
    elif n.karpenter:
        lines.append(f"No pod of namespace {namespace} runs on it.")
        remedy = (
            "Karpenter removes an empty node after the pool's consolidateAfter "
            f"(karpenter.nodePools.{n.pool}.consolidateAfter); if this one stays, a pod of "
            "another namespace or a karpenter.sh/do-not-disrupt annotation keeps it: kubectl "
            f"get pods -A --field-selector spec.nodeName={n.name}."
        )
    else:
        lines.append(f"No pod of namespace {namespace} runs on it.")
        remedy = (
            "a managed node group keeps its desired size whether anything runs or not: lower "
            f"nodeGroups.{n.pool}.desiredSize (and minSize) and run pulumi up to scale it down."
        )
    lines += [
        "",
        f"Remedy: {remedy} `trainstack cost` prices the stack idle and at its ceiling. To "
        "change when this alarm fires, set notifications.alarms.idleGpuPercent and "
        "idleGpuMinutes.",
    ]
    return "\n".join(lines)


class IdleAlarm:
    """Run by fleet.FleetMonitor each poll over the nodes it listed; the count of idle GPU
    nodes is its IdleGpuNodes figure."""

    def __init__(
        self,
        rule: IdleRule,
        cluster: str,
        namespace: str,
        prices: Prices,
        cloudwatch,
        sent,
        publish: Callable[[str, str], None],
        pods_on: Callable[[str], list[str]],
    ):
        self.rule, self.cluster, self.namespace, self.prices = rule, cluster, namespace, prices
        self.cloudwatch, self.sent, self.publish, self.pods_on = cloudwatch, sent, publish, pods_on

    def poll(self, nodes: Sequence[Node], now: float) -> int:
        gpu = [n for n in nodes if n.gpu and n.instance_id]
        start = now - self.rule.window_s - 2 * self.rule.max_gap_s
        series = read_utilization(self.cloudwatch, self.cluster, gpu, start, now) if gpu else {}
        idle, busy = 0, set()
        for n in gpu:
            verdict = judge(series.get(n.name, []), now, self.rule)
            if verdict.idle:
                idle += 1
                self.tell(IdleNode(n, verdict, now, tuple(self.pods_on(n.name))))
            elif verdict.busy:
                busy.add(n.uid)
        self.sent.drop(KIND, busy)  # re-armed: a later idle stretch is told again
        self.sent.keep_only(KIND, {n.uid for n in nodes})
        return idle

    def tell(self, idle: IdleNode) -> bool:
        previous = self.sent.claim(idle.node.uid, KIND, KEY)
        if previous is False:
            return False
        try:
            self.publish(
                subject(idle, self.prices),
                message(idle, self.rule, self.prices, self.cluster, self.namespace),
            )
        except Exception:
            self.sent.release(idle.node.uid, previous)
            raise
        log.info("idle GPU node %s (%s)", idle.node.name, idle.node.pool)
        return True
