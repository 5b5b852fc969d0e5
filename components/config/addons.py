"""`trainstack:addons`: the device plugins and operators, each on/off with a pinned version, and
the namespaces they run in (which jobsNamespace may not take)."""

from __future__ import annotations

from pydantic import Field

from policies.required import VOLUME_PREPARE_NAMESPACE

from .. import versions
from .base import _Model
from .observability import NAMESPACE as OBSERVABILITY_NAMESPACE

# Where each add-on runs; the tests tie every entry to the namespace its component uses.
ADDON_NAMESPACES = {
    "kube-system": "Karpenter, the NVIDIA and EFA device plugins",
    "kubeflow": "the Kubeflow training operator",
    "kuberay-system": "the KubeRay operator",
    "kueue-system": "Kueue",  # components/kueue.py
    VOLUME_PREPARE_NAMESPACE: "the FSx root-preparation Job",  # components/volume_prepare.py
    OBSERVABILITY_NAMESPACE: "the CloudWatch agent",  # components/observability.py
}


class AddonConfig(_Model):
    enabled: bool = True
    version: str


# One subclass per add-on so its version defaults to the pin: `{enabled: false}` is enough.
class NvidiaDevicePluginConfig(AddonConfig):
    version: str = versions.NVIDIA_DEVICE_PLUGIN_VERSION


class EfaDevicePluginConfig(AddonConfig):
    version: str = versions.EFA_DEVICE_PLUGIN_VERSION


class TrainingOperatorConfig(AddonConfig):
    version: str = versions.TRAINING_OPERATOR_VERSION


class KubeRayConfig(AddonConfig):
    version: str = versions.KUBERAY_VERSION


class KueueConfig(AddonConfig):
    """Kueue queues every training job (config/queues.py); off, jobs start when not suspended.
    The stack's queue objects and Kueue's configuration are written for the 0.19 releases."""

    version: str = Field(default=versions.KUEUE_VERSION, pattern=r"^0\.19\.\d+$")


# The Kueue integration (kueue v0.19.2 apis/config/v1beta2/configuration_types.go
# Integrations.frameworks) of the job kinds each operator add-on brings: Kueue manages exactly
# the kinds the stack can run. RayClusters are not listed: the stack makes none of its own, and
# Kueue leaves a RayJob's cluster to the RayJob's workload.
KUEUE_FRAMEWORKS = {
    "training_operator": "kubeflow.org/pytorchjob",
    "kuberay": "ray.io/rayjob",
}


class AddonsConfig(_Model):
    nvidia_device_plugin: NvidiaDevicePluginConfig = NvidiaDevicePluginConfig()
    efa_device_plugin: EfaDevicePluginConfig = EfaDevicePluginConfig()
    training_operator: TrainingOperatorConfig = TrainingOperatorConfig()
    kuberay: KubeRayConfig = KubeRayConfig()
    kueue: KueueConfig = KueueConfig()

    def kueue_frameworks(self) -> list[str]:
        return [f for addon, f in KUEUE_FRAMEWORKS.items() if getattr(self, addon).enabled]

    @property
    def queued(self) -> bool:
        """Kueue queues the jobs: it is on, and an operator brings a kind for it to queue."""
        return self.kueue.enabled and bool(self.kueue_frameworks())
