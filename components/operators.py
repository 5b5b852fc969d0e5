"""Operators: the Kubeflow training operator (PyTorchJob), KubeRay (RayCluster, RayJob) and, for
a stack with `framework: trainjob` jobs, Kubeflow Trainer v2 with JobSet (TrainJob)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from . import pod_spec, versions
from .charts import helm_release
from .config import AddonsConfig

KUBERAY_NAMESPACE = "kuberay-system"
KUBERAY_RELEASE = "kuberay-operator"
# The operator pod's labels (kuberay v1.7.0 helm-chart/kuberay-operator templates/_helpers.tpl
# kuberay-operator.selectorLabels: the chart name, no nameOverride here): a Ray head's
# NetworkPolicy admits it to the dashboard (job_contracts.py).
KUBERAY_OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator"}
# Where the standalone overlay installs the training operator (its Deployment and Service).
TRAINING_OPERATOR_NAMESPACE = "kubeflow"
TRAINING_OPERATOR_DEPLOYMENT = "training-operator"
# The file the operator reads its PyTorch init-container template from, unless a flag names
# another (pkg/config/config.go PyTorchInitContainerTemplateFileDefault, v1.9.3; the overlay's
# Deployment passes no flag).
INIT_TEMPLATE_DIR, INIT_TEMPLATE_FILE = "/etc/config", "initContainer.yaml"
INIT_TEMPLATE_CONFIGMAP = "training-operator-pytorch-init"


def pytorch_init_container_template() -> str:
    """The init container the operator adds to each Worker of a PyTorchJob that has a Master
    (it waits until the master's DNS name resolves), made to pass the jobs namespace's
    "restricted" Pod Security level. The operator's built-in one has no securityContext
    (pkg/controller.v1/pytorch/initcontainer.go, v1.9.3), so under `enforce: restricted` every
    such Worker pod would be refused. The operator fills in {{.InitContainerImage}},
    {{.MaxTries}} and {{.MasterAddr}} (Go template) and reads the result as a YAML list."""
    wait = (
        "err=1; for i in $(seq {{.MaxTries}}); do if nslookup {{.MasterAddr}}; then err=0 "
        "&& break; fi; echo waiting for master; sleep 2; done; exit $err"
    )
    container = {
        "name": "init-pytorch",
        "image": "{{.InitContainerImage}}",
        "imagePullPolicy": "IfNotPresent",
        "resources": {
            "limits": {"cpu": "100m", "memory": "20Mi"},
            "requests": {"cpu": "50m", "memory": "10Mi"},
        },
        "securityContext": pod_spec.container_security_context(),
        "command": ["sh", "-c", wait],
    }
    return yaml.safe_dump([container], sort_keys=False)


def init_template_patch() -> dict[str, Any]:
    """The operator Deployment's spec, as a server-side-apply patch: the template's ConfigMap
    mounted where the operator reads it. Changing the pod template restarts the operator, which
    reads the file once at its first PyTorchJob."""
    volume = "pytorch-init-container"
    return {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": TRAINING_OPERATOR_DEPLOYMENT,
                        "volumeMounts": [
                            {"name": volume, "mountPath": INIT_TEMPLATE_DIR, "readOnly": True}
                        ],
                    }
                ],
                "volumes": [{"name": volume, "configMap": {"name": INIT_TEMPLATE_CONFIGMAP}}],
            }
        }
    }


def training_operator_source(version: str) -> str:
    """The upstream standalone overlay at a tag, as a kustomize remote target."""
    repo = versions.TRAINING_OPERATOR_REPO.removeprefix("https://")
    return f"https://{repo}.git//{versions.TRAINING_OPERATOR_OVERLAY}?ref={version}"


KUBEFLOW_TRAINER_NAMESPACE = "kubeflow-system"  # the chart's documented namespace
KUBEFLOW_TRAINER_RELEASE = "kubeflow-trainer"


def kubeflow_trainer_values(system_label: tuple[str, str]) -> dict[str, Any]:
    """The Trainer chart's values (kubeflow/trainer v2.2.1 charts/kubeflow-trainer/values.yaml;
    JobSet's under `jobset.`, kubernetes-sigs/jobset v0.11.0 charts/jobset/values.yaml; each key
    is checked against both files in tests/components/test_trainjob_install.py). Both controllers
    on the system nodes, sized, with the restricted container settings the charts' defaults
    carry stated here, so a chart bump cannot drop them unnoticed."""
    key, value = system_label
    on_system = {key: value}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "manager": {
            "nodeSelector": on_system,
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"memory": "512Mi"},
            },
            # The chart's default lacks readOnlyRootFilesystem; upstream's own kustomize base
            # sets it (manifests/base/manager/manager.yaml): the manager writes nothing locally
            # (its webhook certificate is a mounted Secret).
            "securityContext": restricted,
            "config": {
                # Off by default at v2.2.1 (pkg/features/features.go): on, it would mount a
                # projected ServiceAccount token into every trainer pod for the Trainer's status
                # server, which the jobs' pods are kept from (no API token, their NetworkPolicy).
                "featureGates": {"TrainJobStatus": False},
            },
        },
        # The chart's ClusterTrainingRuntimes are applied by a post-install hook Job that pulls
        # docker.io/alpine and downloads kubectl at run time; the stack renders its own runtimes
        # (components/trainjob.py).
        "runtimes": {"defaultEnabled": False},
        "jobset": {
            "install": True,  # the stack installs JobSet nowhere else
            "controller": {
                "nodeSelector": on_system,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "1Gi"},
                },
                "securityContext": {k: v for k, v in restricted.items() if k != "seccompProfile"},
                "podSecurityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            },
        },
    }


def kuberay_values(system_label: tuple[str, str]) -> dict[str, Any]:
    key, value = system_label
    return {
        "nodeSelector": {key: value},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    }


@dataclass
class OperatorsArgs:
    config: AddonsConfig
    provider: k8s.Provider
    system_label: tuple[str, str]
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    # PlatformConfig.kubeflow_trainer_installed: asked for, or a job has framework: trainjob.
    kubeflow_trainer: bool = False


class Operators(pulumi.ComponentResource):
    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:operators:Operators", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=list(args.depends_on)
        )
        cfg = args.config
        self.installed: list[str] = []
        if cfg.training_operator.enabled:
            # v1.9 has no Helm chart. The provider applies server-side (its CRDs are too large
            # for the last-applied annotation of client-side apply).
            operator = k8s.kustomize.v2.Directory(
                f"{name}-training-operator",
                directory=training_operator_source(cfg.training_operator.version),
                opts=k8s_opts,
            )
            after = pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[operator])
            )
            template = k8s.core.v1.ConfigMap(
                f"{name}-pytorch-init-container",
                metadata={
                    "name": INIT_TEMPLATE_CONFIGMAP,
                    "namespace": TRAINING_OPERATOR_NAMESPACE,
                },
                data={INIT_TEMPLATE_FILE: pytorch_init_container_template()},
                opts=after,
            )
            k8s.apps.v1.DeploymentPatch(
                f"{name}-training-operator-init-template",
                metadata={
                    "name": TRAINING_OPERATOR_DEPLOYMENT,
                    "namespace": TRAINING_OPERATOR_NAMESPACE,
                },
                spec=init_template_patch(),
                opts=pulumi.ResourceOptions.merge(
                    after, pulumi.ResourceOptions(depends_on=[template])
                ),
            )
            self.installed.append("training-operator")
        if cfg.kuberay.enabled:
            helm_release(
                f"{name}-kuberay",
                release=KUBERAY_RELEASE,
                chart=versions.KUBERAY_CHART,
                repo=versions.KUBERAY_REPO,
                version=cfg.kuberay.version,
                namespace=KUBERAY_NAMESPACE,
                create_namespace=True,
                values=kuberay_values(args.system_label),
                opts=k8s_opts,
            )
            self.installed.append("kuberay")
        if args.kubeflow_trainer:
            helm_release(
                f"{name}-kubeflow-trainer",
                release=KUBEFLOW_TRAINER_RELEASE,
                chart=versions.KUBEFLOW_TRAINER_CHART,
                version=cfg.kubeflow_trainer.version,
                namespace=KUBEFLOW_TRAINER_NAMESPACE,
                create_namespace=True,
                values=kubeflow_trainer_values(args.system_label),
                opts=k8s_opts,
            )
            self.installed.append("kubeflow-trainer")
        self.register_outputs({"installed": self.installed})
