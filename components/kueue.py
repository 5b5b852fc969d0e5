"""Kueue: the pinned chart on the system nodes, its configuration, and the cluster-scoped queue
objects (kueue_objects.py). The LocalQueues live with the jobs (workloads.py).

Every value key below is one of kubernetes-sigs/kueue v0.19.2 charts/kueue/values.yaml, and
every Configuration field one of apis/config/v1beta2/configuration_types.go; the chart takes the
Configuration as one YAML string that replaces its default whole, so this one restates the parts
of the default the manager needs (probes, webhook port, leader election for two replicas).

Kueue's admission webhooks fail closed (failurePolicy: Fail, templates/webhook/manifests.yaml):
while no Kueue replica answers, no job of a managed kind can be created in the jobs namespace. So
it runs twice, spread over the system nodes, under a PodDisruptionBudget and a critical priority.

What Kueue does not admit: the servers and the dev pod. Kueue's `deployment` integration turns on
its `pod` one (pkg/controller/jobs/deployment), whose webhook then sees every pod created in the
managed namespaces, failing closed, the operators' replacement pods of running jobs included; and
each server replica would be a one-pod workload that a training job could preempt mid-traffic.
A running server's GPUs come off its pool's queues instead (config/queues.py); the dev pod's do
not, as it stops when idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from . import kueue_objects, queueing, versions
from .charts import helm_release
from .config import PlatformConfig

NAMESPACE = "kueue-system"
RELEASE = "kueue"  # the chart's fullname is then "kueue" (templates/_helpers.tpl kueue.fullname)
# The controller's Deployment, <fullname>-controller-manager (templates/manager/manager.yaml).
CONTROLLER_DEPLOYMENT = f"{RELEASE}-controller-manager"
REPLICAS = 2
# The manager pod's labels (templates/_helpers.tpl kueue.selectorLabels).
SELECTOR_LABELS = {
    "app.kubernetes.io/name": "kueue",
    "app.kubernetes.io/instance": RELEASE,
    "control-plane": "controller-manager",
}
NAMESPACE_LABEL = "kubernetes.io/metadata.name"

# All-or-nothing: a job is admitted only when its queue has quota for every pod (Kueue reserves
# it for all of them), then must have its pods ready within TIMEOUT, else it is evicted (pods
# deleted, GPUs freed) and requeued. Karpenter gives a node 15 minutes to register before it
# replaces it (kubernetes-sigs/karpenter v1.14.0 pkg/controllers/nodeclaim/lifecycle/
# liveness.go registrationTimeout), and a fresh node then pulls the multi-GB CUDA image: 15 + 10
# minutes, plus margin. Pinned, not inherited: v0.19 turned the feature on by default.
PODS_READY_TIMEOUT = "30m"
# A running job whose pod fails (a node fault) gets as long to be whole again.
PODS_READY_RECOVERY_TIMEOUT = "30m"
# A job that never gets ready (a bad image, no capacity in the zone) is tried this often, about
# 60 s x 2^n apart (at most an hour), then deactivated rather than holding nodes every half hour.
REQUEUE_LIMIT = 5


def namespace_selector(cfg: PlatformConfig) -> dict[str, Any]:
    """The namespaces Kueue manages and its job webhooks see: the jobs namespace only."""
    return {
        "matchExpressions": [
            {"key": NAMESPACE_LABEL, "operator": "In", "values": [cfg.jobs_namespace]}
        ]
    }


def configuration(cfg: PlatformConfig) -> dict[str, Any]:
    """The manager's Configuration (config.kueue.x-k8s.io/v1beta2)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        # As the chart's default (values.yaml managerConfig.controllerManagerConfigYaml).
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        # The stack's jobs always name a queue; another job in the namespace without one (a
        # `trainstack netcheck` run) is not Kueue's and starts as it would without Kueue.
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": namespace_selector(cfg),
        "waitForPodsReady": {
            "timeout": PODS_READY_TIMEOUT,
            "recoveryTimeout": PODS_READY_RECOVERY_TIMEOUT,
            # True would stop every admission in the cluster until each admitted job is ready;
            # quota already keeps two jobs from splitting a pool, the timeout ends the rest.
            "blockAdmission": False,
            "requeuingStrategy": {
                "timestamp": "Eviction",
                "backoffLimitCount": REQUEUE_LIMIT,
                "backoffBaseSeconds": 60,
                "backoffMaxSeconds": 3600,
            },
        },
        "integrations": {"frameworks": queueing.frameworks(cfg)},
        # Every resource a pod requests must be a queue's, except these: an EFA pod takes its
        # node's interfaces with the node's GPUs, so EFA adds no bound the GPUs do not.
        "resources": {
            "quotaCheckStrategy": "BlockUndeclared",
            "excludeResourcePrefixes": ["vpc.amazonaws.com/efa"],
        },
    }


def chart_values(cfg: PlatformConfig, system_label: tuple[str, str]) -> dict[str, Any]:
    key, value = system_label
    return {
        "enablePrometheus": False,  # its ServiceMonitor needs the Prometheus operator's CRDs
        "enableCertManager": False,  # Kueue makes and rotates its own webhook certificates
        "enableKueueViz": False,
        "controllerManager": {
            "replicas": REPLICAS,
            "nodeSelector": {key: value},
            # One per system node where there are two (no affinity key in the chart).
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(SELECTOR_LABELS)},
                }
            ],
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
            # Beta and on in v0.19 (pkg/features/kube_features.go): the hold gate relies on it.
            "featureGates": [{"name": "AdmissionGatedBy", "enabled": True}],
            "manager": {
                "image": {
                    "repository": versions.KUEUE_IMAGE,
                    "tag": f"v{cfg.addons.kueue.version}",
                    "pullPolicy": "IfNotPresent",
                },
                "priorityClassName": "system-cluster-critical",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "512Mi"},
                    "limits": {"cpu": "2", "memory": "512Mi"},
                },
                "podSecurityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containerSecurityContext": {
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            },
        },
        "managerConfig": {
            "controllerManagerConfigYaml": yaml.safe_dump(configuration(cfg), sort_keys=False)
        },
    }


class _KueueObject(pulumi.CustomResource):
    """A kueue.x-k8s.io object as rendered: WorkloadPriorityClass keeps `value` at the top
    level, which pulumi_kubernetes' CustomResource (metadata and spec only) cannot send."""

    def __init__(self, name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
        type_ = f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}"
        super().__init__(type_, name, dict(manifest), opts)


@dataclass
class KueueArgs:
    config: PlatformConfig
    provider: k8s.Provider
    system_label: tuple[str, str]
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class Kueue(pulumi.ComponentResource):
    def __init__(self, name: str, args: KueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:kueue:Kueue", name, None, opts)
        cfg = args.config
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # The CRDs are chart templates: uninstalling Kueue (addons.kueue.enabled: false)
        # deletes them, and every queue and Workload with them.
        self.release = helm_release(
            name,
            release=RELEASE,
            chart=versions.KUEUE_CHART,
            version=cfg.addons.kueue.version,
            namespace=NAMESPACE,
            # As KubeRay's: the chart's namespace, no NetworkPolicy. A wrong policy there would
            # cut the API server off from webhooks that fail closed.
            create_namespace=True,
            atomic=True,
            timeout=600,
            values=chart_values(cfg, args.system_label),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=args.depends_on)
            ),
        )
        # Kueue's webhooks check every object below: they wait for its pods (the release).
        after = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[self.release])
        )
        made: list[pulumi.Resource] = []
        for manifest in kueue_objects.cluster_objects(cfg):
            kind = manifest["kind"]
            # A ClusterQueue waits for the flavors and priority classes it names.
            opts_ = after
            if kind == "ClusterQueue":
                opts_ = pulumi.ResourceOptions.merge(
                    after, pulumi.ResourceOptions(depends_on=list(made))
                )
            obj = _KueueObject(
                f"{name}-{kind.lower()}-{manifest['metadata']['name']}", manifest, opts_
            )
            if kind != "ClusterQueue":
                made.append(obj)
        self.register_outputs({"version": cfg.addons.kueue.version})
