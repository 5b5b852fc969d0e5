"""Operators: the Kubeflow training operator (PyTorchJob) and KubeRay (RayCluster, RayJob)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import versions
from .charts import helm_release
from .config import AddonsConfig


KUBERAY_NAMESPACE = "kuberay-system"
KUBERAY_RELEASE = "kuberay-operator"

def training_operator_source(version: str) -> str:
    """The upstream standalone overlay at a tag, as a kustomize remote target."""
    repo = versions.TRAINING_OPERATOR_REPO.removeprefix("https://")
    return f"https://{repo}.git//{versions.TRAINING_OPERATOR_OVERLAY}?ref={version}"


def kuberay_values(system_label: tuple[str, str]) -> dict[str, Any]:
    key, value = system_label
    return {
        "nodeSelector": {key: value},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"cpu": "500m", "memory": "512Mi"}},
    }


@dataclass
class OperatorsArgs:
    config: AddonsConfig
    provider: k8s.Provider
    system_label: tuple[str, str]
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class Operators(pulumi.ComponentResource):
    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:operators:Operators", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider,
                                          depends_on=list(args.depends_on))
        cfg = args.config
        self.installed: list[str] = []
        if cfg.training_operator.enabled:
            # v1.9 has no Helm chart. The provider applies server-side (its CRDs are too large
            # for the last-applied annotation of client-side apply).
            k8s.kustomize.v2.Directory(
                f"{name}-training-operator",
                directory=training_operator_source(cfg.training_operator.version),
                opts=k8s_opts)
            self.installed.append("training-operator")
        if cfg.kuberay.enabled:
            helm_release(
                f"{name}-kuberay", release=KUBERAY_RELEASE, chart=versions.KUBERAY_CHART,
                repo=versions.KUBERAY_REPO, version=cfg.kuberay.version,
                namespace=KUBERAY_NAMESPACE, create_namespace=True,
                values=kuberay_values(args.system_label), opts=k8s_opts)
            self.installed.append("kuberay")
        self.register_outputs({"installed": self.installed})
