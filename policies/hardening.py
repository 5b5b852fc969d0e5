"""What in the plan is hardening, and which mandatory rule guards each piece: the one table the
mutation harness (tests/policies/test_hardening.py) reads.

For every resource type any plan of the stack holds there is either a `Guarded` entry per
security-relevant input (its path in the resource's inputs, how it is weakened, and the rule
that must refuse the weakened plan), or one `Unguarded` entry saying why nothing in that type
is security-relevant. The harness weakens each input wherever a real plan has it, runs the
pack, and fails if the named rule does not report it as mandatory; it also fails on a plan
type with no entry and on an entry no plan exercises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .mutate import REMOVE, UNCHANGED, Weaken, parse, set_to

# Resource-level weakening: the path "" with REMOVE drops the resource from the plan.
DROP = REMOVE


@dataclass(frozen=True)
class Guarded:
    type: str
    path: str
    weaken: Weaken
    rule: str  # a mandatory rule (resource or stack) that must report the weakened plan
    # Only values this picks are weakened (a Deny statement, the jobs namespace's policy).
    when: Callable[[Any], bool] | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return parse(self.path)

    @property
    def weakening(self) -> Weaken:
        """The weakening, restricted to the values `when` picks."""
        when = self.when
        if when is None:
            return self.weaken
        base = self.weaken
        return Weaken(base.label, lambda v: base.apply(v) if when(v) else UNCHANGED)

    def __str__(self) -> str:
        return f"{self.type} {self.path or '(the resource)'}: {self.weaken.label} -> {self.rule}"


@dataclass(frozen=True)
class Unguarded:
    type: str
    reason: str


# The kinds holding pod templates that the stack renders (base.WORKLOADS lists every kind the
# rules read; an entry for a kind no plan has would weaken nothing).
RENDERED_WORKLOADS = (
    "kubernetes:kubeflow.org/v1:PyTorchJob",
    "kubernetes:ray.io/v1:RayJob",
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:batch/v1:Job",
)


def each(types: Iterable[str], path: str, weaken: Weaken, rule: str) -> list[Guarded]:
    """The same entry for several types (every workload kind holding a pod template)."""
    return [Guarded(t, path, weaken, rule) for t in types]


# --- AWS resources -----------------------------------------------------------------------------
_PUBLIC_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
AWS: list[Guarded | Unguarded] = [
    *[
        Guarded(_PUBLIC_BLOCK, flag, set_to(False), "s3-public-access-blocked")
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ],
    Guarded(_PUBLIC_BLOCK, "", DROP, "s3-bucket-protected"),
]

# --- Kubernetes objects, Helm releases and the kustomize overlay ---------------------------------
KUBERNETES: list[Guarded | Unguarded] = [
    *each(
        RENDERED_WORKLOADS,
        "<container>.securityContext.allowPrivilegeEscalation",
        set_to(True),
        "pod-no-privilege-escalation",
    ),
]

# --- Pulumi components and providers -------------------------------------------------------------
# The project's own components register no inputs: everything they decide is in the resources
# they create, which the entries above cover.
_OWN_COMPONENTS = (
    "trainstack:artifacts:Artifacts",
    "trainstack:cluster:Cluster",
    "trainstack:gpu:GpuPlugins",
    "trainstack:image:TrainerImage",
    "trainstack:jobs:TrainingJob",
    "trainstack:jobs:Workloads",
    "trainstack:karpenter:Karpenter",
    "trainstack:network:Network",
    "trainstack:notifications:Notifications",
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

TABLE: list[Guarded | Unguarded] = AWS + KUBERNETES + COMPONENTS


def guarded(type_: str) -> list[Guarded]:
    return [e for e in TABLE if isinstance(e, Guarded) and e.type == type_]


def covered_types() -> set[str]:
    return {e.type for e in TABLE}
