"""Every CloudWatch metric a dashboard widget or an alarm of the stack may name, with the
dimension sets it is published under and where that fact comes from. The dashboard's test
(tests/components/test_dashboard.py) checks each query against this table, so a misspelled
metric, namespace or dimension fails offline instead of drawing an empty graph.

Three publishers:

- Container Insights with enhanced observability, from the Amazon CloudWatch Observability EKS
  add-on (namespace ContainerInsights). Chart 6.4.0 of aws-observability/helm-charts
  (charts/amazon-cloudwatch-observability/values.yaml) runs the CloudWatch agent image
  1.300070.0b1586, built from aws/amazon-cloudwatch-agent v1.300070.0. That agent declares each
  metric's dimension sets in translator/translate/otel/exporter/awsemf/kubernetes.go; the GPU,
  EFA and accelerator pod/node figures need `enhanced_container_insights` on and
  `accelerated_compute_metrics` not turned off (its default is on:
  translator/translate/otel/receiver/awscontainerinsight/utils.go). The AWS page "Amazon EKS
  and Kubernetes Container Insights with enhanced observability metrics"
  (AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-enhanced-EKS.html) lists the
  same names.
- The trainer (namespace trainstack/Training), through the agent's EMF endpoint:
  trainer/cloudwatch_emf.py.
- The job watcher (namespace trainstack/Fleet): jobwatch/fleet.py.

NOT_EMITTED says which figures the issue asked for the agent does not publish at v1.300070.0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jobwatch import fleet
from trainer import cloudwatch_emf

CONTAINER_INSIGHTS = "ContainerInsights"
AGENT_TAG = "v1.300070.0"  # the agent image tag 1.300070.0b1586 of chart 6.4.0
_AGENT = f"aws/amazon-cloudwatch-agent {AGENT_TAG}"
_DECLARATIONS = f"{_AGENT} translator/translate/otel/exporter/awsemf/kubernetes.go"
DOCS_PAGE = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/"
    "Container-Insights-metrics-enhanced-EKS.html"
)


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimension_sets: tuple[frozenset[str], ...]
    source: str  # the file (and tag) that publishes it with these dimension sets
    unit: str = ""

    def has_dimensions(self, names: Iterable[str]) -> bool:
        """True when the metric is published under exactly this set of dimension names (a
        CloudWatch metric is its name plus its full dimension set)."""
        return frozenset(names) in self.dimension_sets


def _sets(*sets: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(s) for s in sets)


def _family(
    prefix: str, fields: Iterable[str], sets: tuple[frozenset[str], ...], units=None
) -> list[Metric]:
    """`<prefix><field>` for each field, under `sets`; `units`: field -> CloudWatch unit."""
    units = units or {}
    return [
        Metric(CONTAINER_INSIGHTS, f"{prefix}{f}", sets, _DECLARATIONS, units.get(f, ""))
        for f in fields
    ]


C, NS, POD, FULL, NODE = "ClusterName", "Namespace", "PodName", "FullPodName", "NodeName"

# getGPUMetricDeclarations: DCGM exporter fields renamed per container, pod and node
# (translator/translate/otel/processor/metricstransformprocessor/translator.go renameMapForDcgm;
# memory used and total are scaled from MiB to bytes there).
GPU_FIELDS = {
    "gpu_utilization": "Percent",
    "gpu_memory_utilization": "Percent",
    "gpu_memory_total": "Bytes",
    "gpu_memory_used": "Bytes",
    "gpu_power_draw": "Watts",
    "gpu_temperature": "Celsius",
    "gpu_tensor_core_utilization": "Percent",
}
_GPU_CONTAINER = _sets(
    (C,), (C, NS, POD, "ContainerName"), (C, NS, POD, FULL, "ContainerName"),
    (C, NS, POD, FULL, "ContainerName", "GpuDevice"),
)  # fmt: skip
_GPU_POD = _sets(
    (C,), (C, NS), (C, NS, "Service"), (C, NS, POD), (C, NS, POD, FULL),
    (C, NS, POD, FULL, "GpuDevice"),
)  # fmt: skip
_GPU_NODE = _sets(
    (C,), (C, NODE, "InstanceId"), (C, NODE, "InstanceId", "InstanceType", "GpuDevice")
)

# getEFAMetricDeclarations.
EFA_FIELDS = (
    "efa_rx_bytes",
    "efa_tx_bytes",
    "efa_rx_dropped",
    "efa_rdma_read_bytes",
    "efa_rdma_write_bytes",
    "efa_rdma_write_recv_bytes",
    "efa_retrans_bytes",
    "efa_retrans_pkts",
    "efa_retrans_timeout_events",
    "efa_impaired_remote_conn_events",
    "efa_unresponsive_remote_events",
)
_EFA_CONTAINER = _sets(
    (C,), (C, NS, POD, "ContainerName"), (C, NS, POD, FULL, "ContainerName"),
    (C, NS, POD, FULL, "ContainerName", "NetworkInterfaceId"),
)  # fmt: skip
_EFA_POD = _sets(
    (C,), (C, NS), (C, NS, "Service"), (C, NS, POD), (C, NS, POD, FULL),
    (C, NS, POD, FULL, "NetworkInterfaceId"),
)  # fmt: skip
_EFA_NODE = _sets(
    (C,), (C, NODE, "InstanceId"), (C, NODE, "InstanceId", "InstanceType", "NetworkInterfaceId")
)

# getNodeMetricDeclarations (enhanced): the node figures the dashboard shows beside the GPUs'.
_NODE = _sets((NODE, "InstanceId", C), (C,))
NODE_FIELDS = (
    "node_cpu_utilization",
    "node_memory_utilization",
    "node_number_of_running_pods",
    "node_status_condition_ready",
    "node_gpu_limit",
    "node_gpu_usage_total",
    "node_gpu_reserved_capacity",
    "node_efa_limit",
    "node_efa_usage_total",
)
# getClusterMetricDeclarations.
CLUSTER_FIELDS = ("cluster_node_count", "cluster_failed_node_count")

CONTAINER_INSIGHTS_METRICS: list[Metric] = [
    *_family("container_", GPU_FIELDS, _GPU_CONTAINER, GPU_FIELDS),
    *_family("pod_", GPU_FIELDS, _GPU_POD, GPU_FIELDS),
    *_family("node_", GPU_FIELDS, _GPU_NODE, GPU_FIELDS),
    *_family("container_", EFA_FIELDS, _EFA_CONTAINER),
    *_family("pod_", EFA_FIELDS, _EFA_POD),
    *_family("node_", EFA_FIELDS, _EFA_NODE),
    *_family("", NODE_FIELDS, _NODE),
    *_family("", CLUSTER_FIELDS, _sets((C,))),
]

TRAINER_METRICS = [
    Metric(
        cloudwatch_emf.NAMESPACE,
        name,
        _sets(*cloudwatch_emf.DIMENSION_SETS),
        "trainer/cloudwatch_emf.py",
    )
    for name in cloudwatch_emf.METRICS
]

FLEET_METRICS = [
    Metric(fleet.NAMESPACE, name, _sets(*sets), "jobwatch/fleet.py")
    for name, sets in fleet.DIMENSION_SETS.items()
]

CATALOG: dict[tuple[str, str], Metric] = {
    (m.namespace, m.name): m
    for m in (*CONTAINER_INSIGHTS_METRICS, *TRAINER_METRICS, *FLEET_METRICS)
}

# Figures the issue names that the pinned agent does not publish: the dashboard and alarms
# must not promise them.
NOT_EMITTED = {
    "GPU XID errors": (
        f"{_AGENT} renames only seven DCGM fields (metricstransformprocessor translator.go "
        "renameMapForDcgm: GPU_UTIL, FB_USED_PERCENT, FB_USED, FB_TOTAL, GPU_TEMP, "
        "POWER_USAGE, PROF_PIPE_TENSOR_ACTIVE); DCGM_FI_DEV_XID_ERRORS is not among them, so "
        "no XID metric reaches ContainerInsights"
    ),
    "NVLink bandwidth or errors": (
        "no DCGM NVLink field is in renameMapForDcgm either, and kubernetes.go declares no "
        "NVLink metric"
    ),
    "EFA tx dropped": (
        "getEFAMetricDeclarations has efa_rx_dropped but no tx counterpart; transmit trouble "
        "shows as efa_retrans_* and efa_unresponsive_remote_events"
    ),
}


def lookup(namespace: str, name: str) -> Metric | None:
    return CATALOG.get((namespace, name))
