"""`trainstack:addons`: the device plugins and operators, each on/off with a pinned version, and
the namespaces they run in (which jobsNamespace may not take)."""

from __future__ import annotations

from policies.required import VOLUME_PREPARE_NAMESPACE

from .. import versions
from .base import _Model
from .observability import NAMESPACE as OBSERVABILITY_NAMESPACE

# Where each add-on runs; the tests tie every entry to the namespace its component uses.
ADDON_NAMESPACES = {
    "kube-system": "Karpenter, the NVIDIA and EFA device plugins",
    "kubeflow": "the Kubeflow training operator",
    "kuberay-system": "the KubeRay operator",
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


class AddonsConfig(_Model):
    nvidia_device_plugin: NvidiaDevicePluginConfig = NvidiaDevicePluginConfig()
    efa_device_plugin: EfaDevicePluginConfig = EfaDevicePluginConfig()
    training_operator: TrainingOperatorConfig = TrainingOperatorConfig()
    kuberay: KubeRayConfig = KubeRayConfig()
