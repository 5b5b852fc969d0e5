"""What the CloudWatch Observability add-on costs (components/observability.py, on by default):
Container Insights with enhanced observability, billed per observation, and the trainer's figures,
billed as custom metrics.

An estimate, with these assumptions (docs/observability.md, "What it costs"):

- An observation is one metric value of one resource (a node, pod, container, GPU or EFA device)
  per collection, every 60 s (the agent's default). The counts below are the metric names the
  agent's Container Insights pipeline declares per resource with enhanced observability and
  accelerated compute on (agent v1.300070.0, the one chart 6.4.0 runs:
  translator/translate/otel/exporter/awsemf/kubernetes.go); a metric's dimension roll-ups are not
  counted again.
- The pods on a node are the DaemonSets this stack runs on every node, the GPU node's own, and on a
  GPU node at work one job pod holding every GPU and EFA device (a node idling in a group's
  desired size has no job, and its GPUs report at node level only).
- The system nodes also run the stack's controllers, and the cluster-level figures (nodes,
  namespaces, Deployments, DaemonSets, Services, the control plane) are reported once.
- Trainer figures (trainer/cloudwatch_emf.py): one series per job and metric, and one per rank
  for the per-rank set, each a custom metric billed per metric-month, prorated by the hour; each
  running GPU is a rank.
"""

from __future__ import annotations

from dataclasses import dataclass

# The names the trainer and the watcher really send.
from jobwatch import fleet
from trainer import cloudwatch_emf

# Per resource, per minute (agent v1.300070.0 kubernetes.go; see the module docstring).
NODE = 19 + 2 + 2 + 3  # node_* (getNodeMetricDeclarations), interface drops, diskio, filesystem
NODE_ROOT_VOLUME = 11  # node_diskio_ebs_* of the root EBS volume (getEBSMetricDeclarations)
NODE_GPU = 5  # node_gpu_limit, _usage_total, _reserved/_unreserved/_available_capacity
NODE_EFA = 5  # the same five for EFA devices
POD = 6 + 2 + 2 + 25  # getPodMetricDeclarations: utilisation, drops, reserved, enhanced status
POD_GPU = 4  # pod_gpu_request, _limit, _usage_total, _reserved_capacity
POD_EFA = 4
CONTAINER = 12  # getContainerMetricDeclarations
GPU_DEVICE = (
    7  # node_gpu_utilization ... _tensor_core_utilization, per GPU (getGPUMetricDeclarations)
)
EFA_DEVICE = 11  # node_efa_rx_bytes ... _unresponsive_remote_events, per device (getEFAMetric...)

# The DaemonSets on every node of the stack: aws-node (2 containers, with the network policy
# agent), kube-proxy, eks-pod-identity-agent, ebs-csi-node (3), cloudwatch-agent and the CSI node
# plugin of the checkpoint volume (3); on GPU nodes also the NVIDIA device plugin and DCGM
# exporter, on EFA nodes the EFA device plugin.
DAEMON_PODS, DAEMON_CONTAINERS = 6, 11
GPU_DAEMON_PODS = 2
EFA_DAEMON_PODS = 1
# The controllers on the system nodes (CoreDNS, Karpenter, the CSI controllers, the operators,
# the CloudWatch agent operator, the job watcher), and the cluster-level figures.
CONTROL_PODS, CONTROL_CONTAINERS = 16, 30
CLUSTER = 200

MINUTES_PER_HOUR = 60


def node_per_minute(gpus: int = 0, efa_devices: int = 0, *, busy: bool = False) -> int:
    """Observations per minute of one node with `gpus` GPUs and `efa_devices` EFA devices;
    `busy`: a job pod holds them (pod and container level figures for each)."""
    pods = DAEMON_PODS + (GPU_DAEMON_PODS if gpus else 0) + (EFA_DAEMON_PODS if efa_devices else 0)
    containers = DAEMON_CONTAINERS + pods - DAEMON_PODS
    count = NODE + NODE_ROOT_VOLUME + pods * POD + containers * CONTAINER
    if gpus:
        count += NODE_GPU + gpus * GPU_DEVICE
    if efa_devices:
        count += NODE_EFA + efa_devices * EFA_DEVICE
    if busy and gpus:
        count += POD + CONTAINER + POD_GPU + 2 * gpus * GPU_DEVICE
        if efa_devices:
            count += POD_EFA + 2 * efa_devices * EFA_DEVICE
    return count


def cluster_per_minute() -> int:
    """The controllers' pods and the cluster-level figures: once per cluster."""
    return CLUSTER + CONTROL_PODS * POD + CONTROL_CONTAINERS * CONTAINER


def millions_per_hour(per_minute: int) -> float:
    return per_minute * MINUTES_PER_HOUR / 1e6


@dataclass(frozen=True)
class TrainerSeries:
    """The custom metrics of the trainer's figures (trainer/cloudwatch_emf.py)."""

    per_job: int
    per_rank: int

    def count(self, jobs: int, ranks: int) -> int:
        return jobs * self.per_job + ranks * self.per_rank


def trainer_series() -> TrainerSeries:
    sets = cloudwatch_emf.METRICS_BY_DIMENSIONS
    job, rank = cloudwatch_emf.DIMENSION_SETS
    return TrainerSeries(per_job=len(sets[job]), per_rank=len(sets[rank]))


def fleet_series(pools: dict[str, tuple[str, ...]]) -> int:
    """The custom metrics the job watcher keeps publishing while it runs (jobwatch/fleet.py), for
    `pools`, each pool's capacity types (PlatformConfig.capacity_types_by_pool): one Nodes
    series per pool and capacity type, DollarsPerHour in total and per pool, and the cluster's
    GpuNodes and IdleGpuNodes."""
    per_pool_and_type = sum(len(types) for types in pools.values())
    count = 0
    for sets in fleet.DIMENSION_SETS.values():
        for dims in sets:
            if "CapacityType" in dims:
                count += per_pool_and_type
            elif "Pool" in dims:
                count += len(pools)
            else:
                count += 1
    return count
