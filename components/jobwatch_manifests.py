"""The job watcher's Kubernetes objects (jobwatch/, run by components/notifications.py), as
pure functions returning the manifests the tests validate against the schemas.

Its Role is read-only on what the classifier reads (PyTorchJobs, RayJobs, pods, their logs,
events) and on Kueue's Workloads and LocalQueues (the queue alarms) in the jobs namespace, plus
get/update of its own ConfigMap by name (the record of what was sent, jobwatch/sent.py), which
the stack creates so no `create` is granted. Its ClusterRole reads what is not in a namespace:
the Node objects (the fleet figures, jobwatch/fleet.py; the node conditions of the jobs' pods'
nodes), the events about nodes (the node monitoring agent's, which the API server keeps in the
default namespace) and Kueue's ClusterQueues. It runs from the trainer image on the system nodes
as one replica, replaced with Recreate so two watchers never run at once.

Its AWS access: the notifications topic (notification_policies.WATCHER_ACCESS), and FLEET_ACCESS
below: PutMetricData only into the fleet's own namespace (the `cloudwatch:namespace` condition
key; CloudWatch user guide, "Using condition keys to limit access to CloudWatch namespaces"),
and GetMetricData to read the GPU nodes' utilization. Neither action takes a resource ARN (the
Service Authorization Reference lists none for them), so both name "*".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwatch import alarms as watcher_alarms
from jobwatch import fleet, idle_gpu, queue_alarms

from . import runtime_contract as rc
from .config.notifications import AlarmsConfig
from .network_policy import render_contract
from .notification_policies import WATCHER_ACCESS
from .pod_spec import IDENTITY_ANNOTATION, harden_pod, render_service_account
from .prices import instance_prices

NAME = "jobwatch"
CONFIGMAP = "jobwatch-state"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "trainstack"}
READ = ["get", "list", "watch"]
POLL = ["get", "list"]  # read by the alarms' poll, never watched
API_RULES = (
    {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": READ},
    {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": READ},
    {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": READ},
    # Kueue's view of the jobs, for the preemption and queue-wait alarms (queue_alarms.py).
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads", "localqueues"], "verbs": POLL},
    # pods/log: the classifier reads rank 0's log tail, as `trainstack status` does.
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": READ},
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [CONFIGMAP],
        "verbs": ["get", "update"],
    },
)
FLEET_ACCESS = (
    rc.AwsAccess(
        "PublishFleetMetrics",
        ("cloudwatch:PutMetricData",),
        ("*",),
        {"StringEquals": {"cloudwatch:namespace": fleet.NAMESPACE}},
    ),
    rc.AwsAccess("ReadGpuUtilization", ("cloudwatch:GetMetricData",), ("*",)),
)


@dataclass(frozen=True)
class FleetEnv:
    """What the fleet figures need from the stack: the cluster, its region, the capacity types
    each pool may launch (PlatformConfig.capacity_types_by_pool) and the price table's instance
    rows for the region."""

    cluster: str
    region: str
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def env(self) -> list[dict[str, str]]:
        date, rows = instance_prices(self.region)
        prices = {"date": date, "region": self.region, "instances": rows}
        pools = {p: {"capacityTypes": list(t)} for p, t in self.pools.items()}
        return [
            {"name": fleet.ENV_CLUSTER, "value": self.cluster},
            {"name": fleet.ENV_REGION, "value": self.region},
            {"name": fleet.ENV_PRICES, "value": json.dumps(prices, sort_keys=True)},
            {"name": fleet.ENV_POOLS, "value": json.dumps(pools, sort_keys=True)},
        ]


# Cluster-scoped reads, bound by a ClusterRole: every node (the fleet figures), the conditions
# of the jobs' pods' nodes (the GPU-fault alarm, jobwatch/node_faults.py, and the classifier's
# NODE_UNHEALTHY cause), the agent's events about nodes, and Kueue's ClusterQueues (the
# queue-wait alarm). Read-only, no watch: they poll.
CLUSTER_ROLE = f"trainstack-{NAME}"
CLUSTER_RULES = (
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    # The quota of a queued job's ClusterQueue, named in the queue-wait alarm.
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["clusterqueues"], "verbs": POLL},
)


def contract(vpc_cidr: str, https_except_vpc: str | None) -> rc.Contract:
    """The watcher calls the Kubernetes API (watching jobs, pods and events; its record; the
    nodes), SNS and CloudWatch over HTTPS with its Pod Identity role, and DNS; nothing calls
    it."""
    return rc.Contract(
        name=NAME,
        workload="the job watcher",
        pods={"app.kubernetes.io/name": NAME},
        calls=(rc.dns(), rc.https_outside(https_except_vpc)),
        service_account=NAME,
        aws_identity=True,
        aws_access=(*WATCHER_ACCESS, *FLEET_ACCESS),  # the topic; the fleet's metrics
        api_rules=API_RULES,
        needs=(rc.configmap_need(CONFIGMAP),),
        vpc_cidr=vpc_cidr,
    )


def metadata(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(LABELS)}


def render_configmap(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(CONFIGMAP, namespace)}


def render_cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE, "labels": dict(LABELS)},
        "rules": [dict(r) for r in CLUSTER_RULES],
    }


def render_cluster_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ROLE, "labels": dict(LABELS)},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": CLUSTER_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }


def alarm_env(alarms: AlarmsConfig, node_repair: bool = True) -> list[dict[str, str]]:
    """The alarms' settings as the watcher reads them (jobwatch/alarms.py Settings.from_env,
    idle_gpu.py IdleRule.from_env)."""
    values = {
        watcher_alarms.ENV_HUNG_FACTOR: alarms.hung_factor,
        watcher_alarms.ENV_HUNG_FLOOR_S: alarms.hung_floor_minutes * 60,
        watcher_alarms.ENV_LOOP_COUNT: alarms.restart_loop_count,
        watcher_alarms.ENV_LOOP_WINDOW_S: alarms.restart_loop_window_minutes * 60,
        idle_gpu.ENV_PERCENT: alarms.idle_gpu_percent,
        idle_gpu.ENV_WINDOW_S: alarms.idle_gpu_minutes * 60,
        queue_alarms.ENV_QUEUE_WAIT_S: alarms.queue_wait_minutes * 60,
    }
    env = [{"name": k, "value": f"{v:g}"} for k, v in values.items()]
    # nodeHealth.autoRepair: the GPU-fault alarm says whether the node is being repaired.
    return [*env, {"name": watcher_alarms.ENV_NODE_REPAIR, "value": str(node_repair).lower()}]


def render_deployment(
    namespace: str,
    image: str,
    topic_arn: str,
    system_label: tuple[str, str],
    identity: str | None = None,
    alarms: AlarmsConfig | None = None,
    node_repair: bool = True,
    fleet_env: FleetEnv | None = None,
) -> dict[str, Any]:
    """One replica; `identity`, its Pod Identity association's id, is annotated on the pod
    template so a new association rolls the pod (credentials are injected at admission only).
    Without `fleet_env` it publishes no fleet figures and runs no idle-GPU alarm."""
    container = {
        "name": NAME,
        "image": image,
        "command": ["python", "-m", "jobwatch"],
        "env": [
            {"name": "JOBWATCH_NAMESPACE", "value": namespace},
            {"name": "JOBWATCH_TOPIC_ARN", "value": topic_arn},
            {"name": "JOBWATCH_CONFIGMAP", "value": CONFIGMAP},
            *alarm_env(alarms or AlarmsConfig(), node_repair),
            *(fleet_env.env() if fleet_env else []),
        ],
        "resources": {
            "requests": {"cpu": "50m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
    }
    spec = harden_pod(
        {
            "serviceAccountName": NAME,
            "nodeSelector": {system_label[0]: system_label[1]},
            "containers": [container],
        },
        api_access=True,  # it watches the API
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(NAME, namespace),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {
                "metadata": {
                    "labels": dict(LABELS),
                    **({"annotations": {IDENTITY_ANNOTATION: identity}} if identity else {}),
                },
                "spec": spec,
            },
        },
    }


def render_all(
    namespace: str,
    image: str,
    topic_arn: str,
    system_label: tuple[str, str],
    vpc_cidr: str,
    https_except_vpc: str | None = None,
    fleet_env: FleetEnv | None = None,
) -> list[dict[str, Any]]:
    c = contract(vpc_cidr, https_except_vpc)
    return [
        render_service_account(NAME, namespace),
        rc.render_role(c, namespace, LABELS),
        rc.render_role_binding(c, namespace, LABELS),
        render_cluster_role(),
        render_cluster_role_binding(namespace),
        render_configmap(namespace),
        render_contract(c, namespace),
        render_deployment(namespace, image, topic_arn, system_label, fleet_env=fleet_env),
    ]
