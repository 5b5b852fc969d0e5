"""The shape every rule shares, and helpers for reading engine-shaped (camelCase) inputs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MANDATORY = "mandatory"
ADVISORY = "advisory"

# A check gets the resource type, its inputs and the rule's config (defaults already applied),
# and returns one message per violation. Pure: no I/O, so it runs the same offline and in the
# policy engine.
Check = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]

WORLD_CIDRS = ("0.0.0.0/0", "::/0")
GPU = "nvidia.com/gpu"

# The types whose pods the rules read: the jobs and dev pod first, then every workload kind that
# holds a pod template (pod_security, pods, root_step). A TrainJob's pods are its TrainingRuntime's
# (policies/rules/trainjobs.py holds the TrainJob to it).
JOBS = (
    "kubernetes:kubeflow.org/v1:PyTorchJob",
    "kubernetes:ray.io/v1:RayJob",
    "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime",
    "kubernetes:core/v1:Pod",
)
WORKLOADS = JOBS + (
    "kubernetes:ray.io/v1:RayCluster",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    enforcement: str
    types: tuple[str, ...]
    check: Check
    # JSON-schema properties of the rule's config; each should carry a "default".
    config_schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The external baseline controls the rule enforces ("FSBP S3.8", "CIS EKS 4.2.1"): shown in
    # CrossGuard's description and the plan's output, and read by docs/security.md's coverage.
    controls: tuple[str, ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def applies_to(self, type_: str) -> bool:
        return type_ in self.types

    def __call__(
        self, type_: str, props: Mapping[str, Any], config: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Violations of `props`; [] when the rule does not apply to `type_`."""
        if not self.applies_to(type_):
            return []
        return self.check(type_, props or {}, {**self.defaults(), **(config or {})})


# A stack rule sees every resource at once, as (handle, type, props, the names the resource is
# known by, its own name first); the handle is what a violation is reported against. For what one
# resource cannot show: a bucket without a public access block, a namespace without a policy.
Planned = tuple[Any, str, Mapping[str, Any], tuple[str, ...]]
StackCheck = Callable[[Sequence[Planned], Mapping[str, Any]], list[tuple[Any, str]]]


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    enforcement: str
    check: StackCheck
    controls: tuple[str, ...] = ()
    config_schema: dict[str, dict[str, Any]] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}

    def __call__(
        self, resources: Sequence[Planned], config: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, str]]:
        return self.check(resources, {**self.defaults(), **(config or {})})


def described(rule: Rule | StackRule) -> str:
    """The description with the baseline controls it enforces, as CrossGuard shows it."""
    if not rule.controls:
        return rule.description
    return f"{rule.description} [{', '.join(rule.controls)}]"


def truthy(value: Any) -> bool:
    """Booleans may arrive as strings ("true") from providers that type them so (launch
    templates' EBS `encrypted`)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def get(obj: Any, path: str, default: Any = None) -> Any:
    """`get(props, "spec.limits")`: dotted lookup that tolerates missing levels."""
    for part in path.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            return default
        obj = obj[part]
    return obj


def pod_templates(
    obj: Any, path: str = ""
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(location, pod metadata, pod spec) for every pod inside a workload, found structurally
    (a mapping with a `containers` list is a pod spec; its parent's `metadata` is the pod's) so
    Pods, PyTorchJob replicas, RayJob head/worker/submitter templates and Deployments need no
    per-kind path tables."""
    if isinstance(obj, Mapping):
        if isinstance(obj.get("containers"), list):
            yield path or "spec", {}, obj
            return
        spec = obj.get("spec")
        if isinstance(spec, Mapping) and isinstance(spec.get("containers"), list):
            meta = obj.get("metadata")
            yield (
                f"{path}.spec" if path else "spec",
                meta if isinstance(meta, Mapping) else {},
                spec,
            )
            return
        for k, v in obj.items():
            yield from pod_templates(v, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from pod_templates(v, f"{path}[{i}]")


def pod_specs(obj: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(location, pod spec) for every pod inside a workload (see pod_templates)."""
    for where, _meta, spec in pod_templates(obj):
        yield where, spec


CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")


def spec_containers(where: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(location, container) for every container of one pod spec, init and ephemeral included
    (the Pod Security Standards cover all three)."""
    for key in CONTAINER_KEYS:
        for c in spec.get(key) or []:
            if isinstance(c, Mapping):
                yield f"{where}.{key}[{c.get('name', '?')}]", c


def containers(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(location, container) for every container of every pod spec."""
    for where, spec in pod_specs(props):
        yield from spec_containers(where, spec)


def name_of(props: Mapping[str, Any]) -> str:
    return str(get(props, "metadata.name") or props.get("name") or "")


def has_world(cidrs: Any) -> bool:
    return any(c in WORLD_CIDRS for c in (cidrs or []))


def segments(name: str) -> set[str]:
    """Upper-case words of an identifier: `HF_TOKEN` -> {HF, TOKEN}; `TOKENIZERS_X` has no
    TOKEN word, so it is not mistaken for a credential."""
    return set(re.split(r"[^A-Z0-9]+", name.upper())) - {""}


SECRET_WORDS = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIALS", "APIKEY"}


def secret_named(name: str) -> bool:
    """Whether an env var's name says it holds a credential (HF_TOKEN, DB_PASSWORD, ...)."""
    return bool(segments(name) & SECRET_WORDS)
