"""The stack's CloudWatch dashboard as data: `body(spec)` returns the DashboardBody (CloudWatch
API Reference, "Dashboard Body Structure and Syntax") for one stack, every widget built from
the metric catalog's names (metric_catalog.py), so tests/components/test_dashboard.py can parse
each query back and check it names a metric, namespace and dimension set that is published.

Two kinds of query:
- a metric named in full ([namespace, name, dimension, value, ...]) where the stack knows the
  values: its pools (the watcher's fleet figures) and its PyTorchJobs' pods, whose names the
  training operator derives from the job (`<job>-master-0`, `<job>-worker-<i>`), so a job's GPU
  figures are metric math over exactly its pods;
- a Metrics Insights query (`SELECT ... FROM SCHEMA(...) WHERE ... GROUP BY ...`) where the
  values appear at run time: nodes, the trainer's jobs, the pods of RayJobs (named by KubeRay
  with a random suffix). Only `=` and AND are used in WHERE, the subset every reference gives.

Container Insights names a PyTorchJob's pod by its own name (PodName): the agent's pod store
uses the owner's name only for Deployments, DaemonSets, Jobs, ReplicaSets and StatefulSets, and
a PyTorchJob owns its pods itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobwatch import fleet
from trainer import cloudwatch_emf

from . import metric_catalog as mc
from .config import PlatformConfig

START = "-PT6H"
PERIOD_S = 300  # the fleet's poll (jobwatch/fleet.py POLL_S)
GPU_PERIOD_S = 60  # Container Insights' collection interval
MAX_JOB_PODS = 50  # a widget's metric math stays small; bigger jobs show per pod only
WIDTH = 24  # the dashboard grid's columns


@dataclass(frozen=True)
class Job:
    name: str
    # Its pods' names when the stack knows them (a PyTorchJob); () for a RayJob.
    pods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    cluster: str
    region: str
    namespace: str  # the jobs namespace
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # capacity_types_by_pool
    jobs: tuple[Job, ...] = ()
    efa: bool = False


def pytorch_pods(name: str, elastic: bool, nodes: int) -> tuple[str, ...]:
    """The pods the training operator creates for a PyTorchJob with training_job.py's replica
    specs: workers only when elastic, else one master and nodes - 1 workers."""
    if elastic:
        return tuple(f"{name}-worker-{i}" for i in range(nodes))
    return (f"{name}-master-0", *(f"{name}-worker-{i}" for i in range(nodes - 1)))


def spec_of(cfg: PlatformConfig) -> Spec:
    jobs = tuple(
        Job(
            name, pytorch_pods(name, j.elastic, j.node_range[1]) if j.framework == "pytorch" else ()
        )
        for name, j in sorted(cfg.training_jobs.items())
    )
    return Spec(
        cfg.cluster.name,
        cfg.region,
        cfg.jobs_namespace,
        cfg.capacity_types_by_pool(),
        jobs,
        cfg.efa_in_use,
    )


# ------------------------------------------------------------------------------ query builders

_IDENT = re.compile(r"^[A-Za-z0-9_]+$")


def _quoted(namespace: str) -> str:
    """Metrics Insights: a namespace with characters other than letters, digits and _ is
    written in double quotes."""
    return namespace if _IDENT.match(namespace) else f'"{namespace}"'


def insights(
    fn: str,
    namespace: str,
    metric: str,
    schema: Sequence[str],
    where: Mapping[str, str],
    group_by: Sequence[str],
) -> str:
    """SELECT fn(metric) FROM SCHEMA(namespace, schema...) WHERE k = 'v' AND ... GROUP BY ..."""
    text = f"SELECT {fn}({metric}) FROM SCHEMA({', '.join([_quoted(namespace), *schema])})"
    if where:
        text += " WHERE " + " AND ".join(f"{k} = '{v}'" for k, v in where.items())
    if group_by:
        text += " GROUP BY " + ", ".join(group_by)
    return text


def query(expression: str, id_: str, label: str | None = None) -> list[dict[str, Any]]:
    """A metric-math or Metrics Insights row. A GROUP BY query draws one line per group, each
    labelled with its group's values: it is given no label of its own."""
    return [{"expression": expression, "id": id_, **({"label": label} if label else {})}]


def metric(
    namespace: str, name: str, dims: Mapping[str, str], **options: Any
) -> list[str | dict[str, Any]]:
    row: list[str | dict[str, Any]] = [namespace, name]
    for k, v in dims.items():
        row += [k, v]
    return [*row, options] if options else row


def graph(
    title: str,
    metrics: list,
    spec: Spec,
    *,
    stat: str = "Average",
    period: int = GPU_PERIOD_S,
    view: str = "timeSeries",
    stacked: bool = False,
    axis: str | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "title": title,
        "view": view,
        "stacked": stacked,
        "region": spec.region,
        "stat": stat,
        "period": period,
        "metrics": metrics,
    }
    if axis:
        props["yAxis"] = {"left": {"label": axis, "showUnits": False}}
    return {"type": "metric", "properties": props}


def text(markdown: str) -> dict[str, Any]:
    return {"type": "text", "properties": {"markdown": markdown}}


# ------------------------------------------------------------------------------------ widgets

CI = mc.CONTAINER_INSIGHTS
NODE_SCHEMA = ("ClusterName", "InstanceId", "NodeName")
POD_SCHEMA = ("ClusterName", "Namespace", "PodName")
JOB_SCHEMA = cloudwatch_emf.DIMENSION_SETS[0]  # ClusterName, Job


def fleet_widgets(spec: Spec) -> list[dict[str, Any]]:
    c = {"ClusterName": spec.cluster}
    cost = graph(
        "Running $/h (nodes, on-demand list prices)",
        [metric(fleet.NAMESPACE, fleet.DOLLARS_PER_HOUR, c, label="USD per hour")],
        spec,
        period=PERIOD_S,
        view="singleValue",
    )
    by_pool = graph(
        "$/h by pool",
        [
            metric(fleet.NAMESPACE, fleet.DOLLARS_PER_HOUR, {**c, "Pool": p}, label=p)
            for p in sorted(spec.pools)
        ],
        spec,
        period=PERIOD_S,
        stacked=True,
        axis="USD per hour",
    )
    nodes = graph(
        "Nodes by pool and capacity type",
        [
            metric(
                fleet.NAMESPACE,
                fleet.NODES,
                {**c, "Pool": p, "CapacityType": t},
                label=f"{p} {t}",
            )
            for p, types in sorted(spec.pools.items())
            for t in types
        ],
        spec,
        period=PERIOD_S,
        stacked=True,
        axis="nodes",
    )
    gpu_nodes = graph(
        "GPU nodes, and those idle (the idle-GPU alarm's rule)",
        [
            metric(fleet.NAMESPACE, fleet.GPU_NODES, c, label="GPU nodes"),
            metric(fleet.NAMESPACE, fleet.IDLE_GPU_NODES, c, label="idle GPU nodes"),
        ],
        spec,
        period=PERIOD_S,
        axis="nodes",
    )
    return [cost, by_pool, nodes, gpu_nodes]


def node_gpu_widgets(spec: Spec) -> list[dict[str, Any]]:
    where = {"ClusterName": spec.cluster}

    def by_node(fn: str, name: str) -> list:
        return [query(insights(fn, CI, name, NODE_SCHEMA, where, ("NodeName",)), "q0")]

    return [
        graph(
            "GPU utilization by node (mean over its GPUs)",
            by_node("AVG", "node_gpu_utilization"),
            spec,
            axis="%",
        ),
        graph(
            "GPU memory used by node (fullest GPU)",
            by_node("MAX", "node_gpu_memory_used"),
            spec,
            stat="Maximum",
            axis="bytes",
        ),
        graph(
            "GPU power draw by node (sum over its GPUs)",
            by_node("SUM", "node_gpu_power_draw"),
            spec,
            stat="Sum",
            axis="W",
        ),
        graph(
            "GPU temperature by node (hottest GPU)",
            by_node("MAX", "node_gpu_temperature"),
            spec,
            stat="Maximum",
            axis="°C",
        ),
    ]


def _job_math(spec: Spec, name: str, stat: str, fn: str) -> list:
    """Per job with known pods: its pods' series hidden, and `fn` over them as the job's line."""
    rows: list = []
    for j, job in enumerate(spec.jobs):
        if not job.pods or len(job.pods) > MAX_JOB_PODS:
            continue
        ids = [f"j{j}p{i}" for i in range(len(job.pods))]
        dims = {"ClusterName": spec.cluster, "Namespace": spec.namespace}
        rows += [
            metric(CI, name, {**dims, "PodName": pod}, id=i, stat=stat, visible=False)
            for pod, i in zip(job.pods, ids)
        ]
        rows.append(query(f"{fn}([{', '.join(ids)}])", f"j{j}", job.name))
    return rows


def job_gpu_widgets(spec: Spec) -> list[dict[str, Any]]:
    where = {"ClusterName": spec.cluster, "Namespace": spec.namespace}
    per_pod = [
        query(insights("AVG", CI, "pod_gpu_utilization", POD_SCHEMA, where, ("PodName",)), "q0")
    ]
    widgets = [
        graph(
            "GPU utilization by job (mean over its pods' GPUs)",
            _job_math(spec, "pod_gpu_utilization", "Average", "AVG"),
            spec,
            axis="%",
        ),
        graph(
            "GPU memory used by job (its fullest GPU)",
            _job_math(spec, "pod_gpu_memory_used", "Maximum", "MAX"),
            spec,
            stat="Maximum",
            axis="bytes",
        ),
        graph(f"GPU utilization by pod in {spec.namespace}", per_pod, spec, axis="%"),
    ]
    return [w for w in widgets if w["properties"]["metrics"]]


def trainer_widgets(spec: Spec) -> list[dict[str, Any]]:
    where = {"ClusterName": spec.cluster}

    def by_job(name: str) -> list:
        ns = cloudwatch_emf.NAMESPACE
        return [query(insights("AVG", ns, name, JOB_SCHEMA, where, ("Job",)), "q0")]

    return [
        graph("Tokens/s by job", by_job("TokensPerSecond"), spec, axis="tokens/s"),
        graph("MFU by job", by_job("MFU"), spec, axis="fraction of peak"),
        graph("Loss by job", by_job("Loss"), spec, axis="loss"),
        graph(
            "Data-wait share by job",
            by_job("DataWaitShare"),
            spec,
            axis="share of step time",
        ),
    ]


def efa_widgets(spec: Spec) -> list[dict[str, Any]]:
    where = {"ClusterName": spec.cluster}

    def by_node(name: str) -> list:
        return query(insights("SUM", CI, name, NODE_SCHEMA, where, ("NodeName",)), "q0")

    cluster = {"ClusterName": spec.cluster}
    return [
        graph(
            "EFA received bytes per minute by node",
            [by_node("node_efa_rx_bytes")],
            spec,
            stat="Sum",
            axis="bytes/min",
        ),
        graph(
            "EFA sent bytes per minute by node",
            [by_node("node_efa_tx_bytes")],
            spec,
            stat="Sum",
            axis="bytes/min",
        ),
        graph(
            "EFA trouble in the cluster (drops, retransmits, unresponsive peers)",
            [
                metric(CI, name, cluster, label=name.removeprefix("node_efa_"))
                for name in (
                    "node_efa_rx_dropped",
                    "node_efa_retrans_pkts",
                    "node_efa_retrans_timeout_events",
                    "node_efa_impaired_remote_conn_events",
                    "node_efa_unresponsive_remote_events",
                )
            ],
            spec,
            stat="Sum",
            axis="per minute",
        ),
    ]


def header(spec: Spec) -> dict[str, Any]:
    return text(
        f"# trainstack: {spec.cluster}\n"
        "GPU and EFA figures come from Container Insights (the CloudWatch Observability "
        "add-on); tokens/s, MFU and loss from the trainer; nodes and $/h from the job "
        "watcher, which needs `notifications.enabled`. $/h is the nodes' on-demand list "
        "price from the stack's price table (`trainstack cost`); spot costs less. "
        "docs/dashboard.md says what to look at and when."
    )


def _place(rows: list[tuple[list[dict[str, Any]], int]]) -> list[dict[str, Any]]:
    """Lay rows of widgets on the 24-column grid, each row's widgets of equal width."""
    out, y = [], 0
    for widgets, height in rows:
        if not widgets:
            continue
        width = WIDTH // len(widgets)
        for i, w in enumerate(widgets):
            out.append({**w, "x": i * width, "y": y, "width": width, "height": height})
        y += height
    return out


def body(spec: Spec) -> dict[str, Any]:
    gpu = node_gpu_widgets(spec)
    rows = [
        ([header(spec)], 2),
        (fleet_widgets(spec), 6),
        (gpu[:2], 6),
        (job_gpu_widgets(spec), 6),
        (trainer_widgets(spec), 6),
        (gpu[2:], 6),
        (efa_widgets(spec) if spec.efa else [], 6),
    ]
    return {"start": START, "periodOverride": "inherit", "widgets": _place(rows)}
