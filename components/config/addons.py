"""`trainstack:addons`: the device plugins and operators, each on/off with a pinned version, and
the namespaces they run in (which jobsNamespace may not take)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import Field

from policies.required import VOLUME_PREPARE_NAMESPACE

from .. import versions
from .base import _Model, key
from .observability import NAMESPACE as OBSERVABILITY_NAMESPACE

# Where each add-on runs; the tests tie every entry to the namespace its component uses.
ADDON_NAMESPACES = {
    "kube-system": "Karpenter, the NVIDIA and EFA device plugins",
    "kubeflow": "the Kubeflow training operator",
    "kuberay-system": "the KubeRay operator",
    "kueue-system": "Kueue",  # components/kueue.py
    "kubeflow-system": "Kubeflow Trainer v2 and its JobSet controller",
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
# ... and Trainer v2's, whenever the stack installs it (PlatformConfig.kubeflow_trainer_installed).
KUEUE_TRAINJOB_FRAMEWORK = "trainer.kubeflow.org/trainjob"


# The Trainer releases whose API the stack renders TrainJobs for (components/trainjob.py, the CRDs
# pinned in trainstack/offline/crds.py) and that Kueue v0.19.2 is built against (go.mod: trainer
# v2.2.1; Kueue's move to 2.3 says the two are not API compatible). 2.3 also needs every upgrade
# from 2.2 to pass through it (kubeflow/trainer v2.3.0 CHANGELOG/CHANGELOG-2.3.md).
KUBEFLOW_TRAINER_RELEASES = re.compile(r"^2\.2\.\d+$")


class KubeflowTrainerConfig(AddonConfig):
    """Kubeflow Trainer v2 and JobSet. `enabled` unset: installed when some training job has
    `framework: trainjob`, so a stack pays for no operator nothing uses; true installs it anyway
    (for TrainJobs submitted by hand), false refuses such jobs."""

    enabled: bool | None = None
    version: str = versions.KUBEFLOW_TRAINER_VERSION

    def installed(self, frameworks: Iterable[str]) -> bool:
        return self.enabled if self.enabled is not None else "trainjob" in set(frameworks)


class AddonsConfig(_Model):
    nvidia_device_plugin: NvidiaDevicePluginConfig = NvidiaDevicePluginConfig()
    efa_device_plugin: EfaDevicePluginConfig = EfaDevicePluginConfig()
    training_operator: TrainingOperatorConfig = TrainingOperatorConfig()
    kuberay: KubeRayConfig = KubeRayConfig()
    kueue: KueueConfig = KueueConfig()
    kubeflow_trainer: KubeflowTrainerConfig = KubeflowTrainerConfig()

    def kueue_frameworks(self) -> list[str]:
        return [f for addon, f in KUEUE_FRAMEWORKS.items() if getattr(self, addon).enabled]

    @property
    def queued(self) -> bool:
        """Kueue queues the jobs: it is on, and an operator brings a kind for it to queue."""
        return self.kueue.enabled and bool(self.kueue_frameworks())


def check_kubeflow_trainer(trainer: KubeflowTrainerConfig) -> list[str]:
    """Training operator v1 (kubeflow.org, namespace kubeflow) and Trainer v2
    (trainer.kubeflow.org, namespace kubeflow-system, with JobSet) share no CRD group, namespace,
    webhook configuration or ClusterRole name (tests/components/test_trainjob_install.py), so
    both may be installed; what upstream does not allow is a Trainer release other than 2.2."""
    if KUBEFLOW_TRAINER_RELEASES.match(trainer.version):
        return []
    return [
        f"{key('addons', 'kubeflowTrainer', 'version')} = {trainer.version!r}: the stack renders "
        "TrainJobs for Trainer 2.2 (trainer.kubeflow.org/v1alpha1 as of v2.2.1) and queues them "
        "with a Kueue built against 2.2 only; use a 2.2.x release (default "
        f"{versions.KUBEFLOW_TRAINER_VERSION})"
    ]
