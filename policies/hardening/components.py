"""The hardening table's Pulumi components and providers: why nothing in them is guarded."""

from __future__ import annotations

from .entries import Guarded, Unguarded

# --- Pulumi components and providers -------------------------------------------------------------
# The project's own components register no inputs: everything they decide is in the resources
# they create, which the entries above cover.
_OWN_COMPONENTS = (
    "trainstack:artifacts:Artifacts",
    "trainstack:cluster:Cluster",
    "trainstack:dashboard:Dashboard",
    "trainstack:gpu:GpuPlugins",
    "trainstack:image:TrainerImage",
    "trainstack:jobs:TrainingJob",
    "trainstack:jobs:Workloads",
    "trainstack:karpenter:Karpenter",
    "trainstack:kueue:Kueue",
    "trainstack:network:Network",
    "trainstack:notifications:Notifications",
    "trainstack:observability:Observability",
    "trainstack:operators:Operators",
    "trainstack:platform:Platform",
    "trainstack:serving:EngineImage",
    "trainstack:serving:ServingJob",
    "trainstack:storage:CheckpointStorage",
)
COMPONENTS: list[Guarded | Unguarded] = [
    *[
        Unguarded(t, "a trainstack component: no inputs; what it decides is in its resources")
        for t in _OWN_COMPONENTS
    ],
    Unguarded(
        "pulumi:providers:kubernetes",
        "how `pulumi up` reaches the API server (a kubeconfig whose user runs `aws eks get-token`):"
        " it decides who deploys, which the cluster's access entries govern, not what is deployed",
    ),
    Unguarded(
        "pulumi-python:dynamic:Resource",
        "the image build trigger (components/image_build.py): names the CodeBuild project, bucket"
        " and repository to start a build in; the project's settings are guarded on the Project",
    ),
]
