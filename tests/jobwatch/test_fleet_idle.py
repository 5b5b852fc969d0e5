"""The watcher's fleet figures (jobwatch/fleet.py) and idle-GPU alarm (jobwatch/idle_gpu.py):
nodes read from their labels as the stack and EKS/Karpenter set them, the rule over recorded
per-minute utilization series (one that fires, and ones that must not: a node idle only
briefly, a busy node, a gap in the data), and the whole poll against moto's CloudWatch
(PutMetricData and GetMetricData), telling an idle node once with its pool, type, $/h and
remedy."""

from __future__ import annotations

import time
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from components import config as stack_config
from components.config.notifications import AlarmsConfig
from components.jobwatch_manifests import alarm_env
from components.metric_catalog import lookup
from jobwatch import fleet, idle_gpu
from jobwatch.idle_gpu import IdleAlarm, IdleRule, judge
from jobwatch.sent import SentLog

CLUSTER = "trainstack-dev"
PRICES = fleet.Prices({"m6i.large": 0.096, "g5.xlarge": 1.006}, "2026-06-17", "us-west-2")
SETTINGS = fleet.Settings(
    CLUSTER,
    PRICES,
    {"system": ("on-demand",), "gpu-g5": ("on-demand",), "small": ("spot", "on-demand")},
)


def node(name: str, instance: str, labels: dict, zone: str = "us-west-2a") -> dict:
    """A node as the API returns it: the kubelet's and the provisioner's labels."""
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": instance,
                "topology.kubernetes.io/zone": zone,
                **labels,
            },
        },
        "spec": {"providerID": f"aws:///{zone}/i-{name[-4:]}"},
    }


# A managed system node, a managed GPU node (idle) and a Karpenter spot GPU node (busy), labelled
# as components/scheduling.py node_labels and EKS (eks.amazonaws.com/*) or Karpenter (karpenter.sh/*)
# label them.
SYSTEM = node(
    "ip-10-42-1-11.us-west-2.compute.internal-0a11",
    "m6i.large",
    {
        "trainstack.io/pool": "system",
        "trainstack.io/system": "true",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "trainstack-dev-system-20261207",
    },
)
IDLE = node(
    "ip-10-42-1-27.us-west-2.compute.internal-0b27",
    "g5.xlarge",
    {
        "trainstack.io/pool": "gpu-g5",
        "trainstack.io/gpu": "true",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "trainstack-dev-gpu-g5-20261207",
    },
)
BUSY = node(
    "ip-10-42-2-40.us-west-2.compute.internal-0c40",
    "g5.xlarge",
    {
        "trainstack.io/pool": "small",
        "trainstack.io/gpu": "true",
        "karpenter.sh/capacity-type": "spot",
        "karpenter.sh/nodepool": "small",
    },
    zone="us-west-2b",
)
NODES = [SYSTEM, IDLE, BUSY]


def test_the_labels_the_watcher_reads_are_the_ones_the_stack_sets():
    assert fleet.POOL_LABEL == stack_config.POOL_LABEL
    assert fleet.GPU_LABEL == stack_config.GPU_LABEL
    system, idle, busy = map(fleet.read_node, NODES)
    assert (system.pool, system.capacity_type, system.gpu, system.karpenter) == (
        "system",
        "on-demand",
        False,
        False,
    )
    assert (idle.pool, idle.instance_type, idle.instance_id) == ("gpu-g5", "g5.xlarge", "i-0b27")
    assert (busy.pool, busy.capacity_type, busy.karpenter) == ("small", "spot", True)


def test_the_figures_count_nodes_by_pool_and_capacity_type_and_price_them():
    fig = fleet.figures([fleet.read_node(n) for n in NODES], SETTINGS)
    assert fig.nodes == {
        ("system", "on-demand"): 1,
        ("gpu-g5", "on-demand"): 1,
        ("small", "spot"): 1,
        ("small", "on-demand"): 0,  # a known pool with no node reads 0, not a gap
    }
    assert fig.gpu_nodes == 2
    assert fig.dollars_per_hour == pytest.approx(0.096 + 2 * 1.006)
    assert fig.dollars_by_pool["small"] == pytest.approx(1.006)
    assert fig.unpriced == ()
    # Every datum is a metric and dimension set the catalog (and so the dashboard) knows.
    for d in fleet.datums(fig, 1, CLUSTER, time.time()):
        m = lookup(fleet.NAMESPACE, d["MetricName"])
        assert m is not None and m.has_dimensions(x["Name"] for x in d["Dimensions"]), d


# ------------------------------------------------------------------------------- the rule

NOW = 1_800_000_000.0
RULE = IdleRule(percent=5, window_s=30 * 60)


def series(*stretches: tuple[int, float]) -> list[tuple[float, float]]:
    """Per-minute samples ending now: (minutes, percent) stretches, oldest first."""
    values = [v for minutes, v in stretches for _ in range(minutes)]
    return [(NOW - 60 * (len(values) - 1 - i), v) for i, v in enumerate(values)]


# A job that ran at 96-99% and finished 40 minutes ago, its node left at 0-2%.
FINISHED_40_MIN_AGO = series((20, 97.0), (40, 1.0))
# The same node 10 minutes after its job finished.
FINISHED_10_MIN_AGO = series((50, 98.0), (10, 0.0))
BUSY_JOB = series((60, 95.0))
# A checkpoint save: 4 minutes at 0% in the middle of a busy run.
CHECKPOINT_PAUSE = series((30, 96.0), (4, 0.0), (26, 97.0))


def test_a_node_idle_for_the_whole_window_fires():
    v = judge(FINISHED_40_MIN_AGO, NOW, RULE)
    assert v.idle and not v.busy
    assert NOW - v.since == 39 * 60 and v.peak == 1.0


@pytest.mark.parametrize(
    "samples, busy",
    [
        (FINISHED_10_MIN_AGO, False),  # idle, but only briefly
        (BUSY_JOB, True),
        (CHECKPOINT_PAUSE, True),
        # 40 idle minutes with 10 of them missing (the agent restarted): not known idle
        ([s for s in FINISHED_40_MIN_AGO if not NOW - 25 * 60 < s[0] < NOW - 15 * 60], False),
        ([(t - 20 * 60, v) for t, v in FINISHED_40_MIN_AGO], False),  # no sample for 20 min
        ([], False),
    ],
    ids=["briefly-idle", "busy", "checkpoint-pause", "gap", "stale", "no-data"],
)
def test_a_node_not_idle_for_the_whole_window_does_not_fire(samples, busy):
    v = judge(samples, NOW, RULE)
    assert not v.idle and v.busy == busy


def test_the_stacks_alarm_keys_reach_the_rule_in_its_units():
    env = {
        e["name"]: e["value"]
        for e in alarm_env(AlarmsConfig(idle_gpu_percent=7, idle_gpu_minutes=45))
    }
    assert IdleRule.from_env(env) == IdleRule(percent=7, window_s=2700)
    with pytest.raises(ValueError, match=idle_gpu.ENV_PERCENT):
        IdleRule.from_env({idle_gpu.ENV_PERCENT: "idle"})


# ---------------------------------------------------------------- the poll against CloudWatch


class FakeCore:
    """The two ConfigMap calls SentLog makes, over one in-memory record."""

    def __init__(self):
        self.data: dict[str, str] = {}

    def read_namespaced_config_map(self, name, namespace):
        return SimpleNamespace(data=dict(self.data))

    def replace_namespaced_config_map(self, name, namespace, cm):
        self.data = dict(cm.data)


def put_utilization(cw, n: dict, samples: list[tuple[float, float]]) -> None:
    """As the agent publishes it: one value per GPU per minute under the node's dimension set
    {ClusterName, NodeName, InstanceId} (a g5.xlarge has one GPU; a second copy 1 point lower
    stands for a second GPU, which Maximum must see past)."""
    dims = [
        {"Name": "ClusterName", "Value": CLUSTER},
        {"Name": "NodeName", "Value": n["metadata"]["name"]},
        {"Name": "InstanceId", "Value": fleet.read_node(n).instance_id},
    ]
    data = [
        {"MetricName": idle_gpu.UTILIZATION, "Dimensions": dims, "Timestamp": t, "Value": v - d}
        for t, v in samples
        for d in (0.0, min(v, 1.0))
    ]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=idle_gpu.CONTAINER_INSIGHTS, MetricData=data[i : i + 500])


@pytest.fixture
def cloud():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-west-2")


def test_the_poll_tells_an_idle_node_once_and_publishes_the_figures(cloud):
    now = float(int(time.time()) // 60 * 60)
    shift = now - NOW
    put_utilization(cloud, IDLE, [(t + shift, v) for t, v in FINISHED_40_MIN_AGO])
    put_utilization(cloud, BUSY, [(t + shift, v) for t, v in BUSY_JOB])
    core, published = FakeCore(), []
    alarm = IdleAlarm(
        RULE, CLUSTER, "training", PRICES, cloud, SentLog(core, "training", "jobwatch-state"),
        lambda subject, text: published.append((subject, text)), lambda node: [],
    )  # fmt: skip
    monitor = fleet.FleetMonitor(SETTINGS, lambda: NODES, cloud, alarm, clock=lambda: now)

    monitor.poll()
    ((subject, text),) = published
    idle = IDLE["metadata"]["name"]
    # 39 idle minutes recorded; the watcher reads window + 6 min back, so it says 36.
    assert subject == f"trainstack: GPU node {idle} idle 36 min (gpu-g5, $1.01/h)"
    for fact in (
        "idle for at least 36 min",
        "below 5% utilization",
        "pool gpu-g5 (a managed node group), g5.xlarge, on-demand, instance i-0b27",
        "$1.01/h (on-demand list price of 2026-06-17",
        "lower nodeGroups.gpu-g5.desiredSize (and minSize)",
        "`trainstack cost`",
        "notifications.alarms.idleGpuPercent and idleGpuMinutes",
    ):
        assert fact in text, fact
    assert core.data == {f"uid-{idle}": "Node|IdleGpu"}

    monitor.poll()  # the same idle stretch: not again
    assert len(published) == 1

    # The figures are in CloudWatch under the catalog's names: 1 idle GPU node of 2.
    def latest(name: str) -> float:
        resp = cloud.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": fleet.NAMESPACE,
                            "MetricName": name,
                            "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}],
                        },
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=now - 600,
            EndTime=now + 60,
        )
        return resp["MetricDataResults"][0]["Values"][0]

    assert (latest(fleet.IDLE_GPU_NODES), latest(fleet.GPU_NODES)) == (1, 2)
    assert latest(fleet.DOLLARS_PER_HOUR) == pytest.approx(0.096 + 2 * 1.006)

    # A job lands on it: busy again, the record is dropped, so the next idle stretch is told.
    put_utilization(cloud, IDLE, [(now + 60, 93.0)])
    assert alarm.poll([fleet.read_node(n) for n in NODES], now + 120) == 0
    assert core.data == {}


def test_a_karpenter_node_held_by_a_jobs_pod_names_the_pod_and_the_job_remedy():
    n = fleet.read_node(BUSY)
    v = judge(FINISHED_40_MIN_AGO, NOW, RULE)
    text = idle_gpu.message(
        idle_gpu.IdleNode(n, v, NOW, ("llama-1b-worker-2",)), RULE, PRICES, CLUSTER, "training"
    )
    assert "pool small (a Karpenter NodePool), g5.xlarge, spot" in text
    assert "$1.01/h (on-demand list price of 2026-06-17; a spot node costs less)" in text
    assert "Pods on it in namespace training: llama-1b-worker-2." in text
    assert "trainstack status <job> -n training" in text
    empty = idle_gpu.message(idle_gpu.IdleNode(n, v, NOW, ()), RULE, PRICES, CLUSTER, "training")
    assert "karpenter.nodePools.small.consolidateAfter" in empty


def test_the_figures_go_out_when_the_idle_check_fails():
    class Failing:
        def poll(self, nodes, now):
            raise RuntimeError("GetMetricData throttled")

    class RecordingCloudWatch:
        def __init__(self):
            self.calls = []

        def put_metric_data(self, **kwargs):
            self.calls.append(kwargs)

    cw = RecordingCloudWatch()
    fleet.FleetMonitor(SETTINGS, lambda: NODES, cw, Failing(), clock=lambda: NOW).poll()
    (call,) = cw.calls
    names = {d["MetricName"] for d in call["MetricData"]}
    # No IdleGpuNodes rather than a wrong 0; the rest as always.
    assert names == {fleet.NODES, fleet.GPU_NODES, fleet.DOLLARS_PER_HOUR}
