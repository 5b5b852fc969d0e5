"""GPU plugins: the NVIDIA device plugin on GPU nodes and the EFA device plugin on EFA nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import versions
from .charts import helm_release
from .config import AddonsConfig
from .scheduling import EFA_LABEL, GPU_LABEL, GPU_TOLERATION

NAMESPACE = "kube-system"
NVIDIA_RELEASE = "nvidia-device-plugin"
EFA_RELEASE = "aws-efa-k8s-device-plugin"


def _only_on(label: str) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": label, "operator": "In", "values": ["true"]}]}
                ]
            }
        }
    }


def nvidia_values() -> dict[str, Any]:
    return {
        # The chart's default affinity wants NFD/GFD labels we do not install: pin it to the
        # label every trainstack GPU node carries (AL2023 NVIDIA nodes; Bottlerocket has its own).
        "affinity": _only_on(GPU_LABEL),
        "tolerations": [GPU_TOLERATION, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
        # MOFED on mounts every /dev/infiniband device and breaks the EFA plugin (0.19.0-0.19.2).
        "mofedEnabled": False,
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
        "failOnInitError": True,
    }


def efa_values() -> dict[str, Any]:
    return {
        # The chart builds its node affinity from these: our EFA label instead of its type list,
        # which lags behind new instance types.
        "supportedInstanceLabels": {"keys": [EFA_LABEL], "values": ["true"]},
        "tolerations": [GPU_TOLERATION],
    }


@dataclass
class GpuPluginsArgs:
    config: AddonsConfig
    provider: k8s.Provider
    efa_in_use: bool
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class GpuPlugins(pulumi.ComponentResource):
    def __init__(self, name: str, args: GpuPluginsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:gpu:GpuPlugins", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=list(args.depends_on)
        )
        cfg = args.config
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        if cfg.nvidia_device_plugin.enabled:
            self.releases["nvidia"] = helm_release(
                f"{name}-nvidia",
                release=NVIDIA_RELEASE,
                chart=versions.NVIDIA_DEVICE_PLUGIN_CHART,
                repo=versions.NVIDIA_DEVICE_PLUGIN_REPO,
                version=cfg.nvidia_device_plugin.version,
                namespace=NAMESPACE,
                values=nvidia_values(),
                opts=k8s_opts,
            )
        if cfg.efa_device_plugin.enabled and args.efa_in_use:
            self.releases["efa"] = helm_release(
                f"{name}-efa",
                release=EFA_RELEASE,
                chart=versions.EFA_DEVICE_PLUGIN_CHART,
                repo=versions.EFA_DEVICE_PLUGIN_REPO,
                version=cfg.efa_device_plugin.version,
                namespace=NAMESPACE,
                values=efa_values(),
                opts=k8s_opts,
            )
        self.register_outputs({"releases": list(self.releases)})
