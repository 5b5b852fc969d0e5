"""The hardening table's entry types (see policies/hardening/__init__.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..mutate import REMOVE, UNCHANGED, Weaken, parse

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
    "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime",
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:batch/v1:Job",
)


def each(types: Iterable[str], path: str, weaken: Weaken, rule: str) -> list[Guarded]:
    """The same entry for several types (every workload kind holding a pod template)."""
    return [Guarded(t, path, weaken, rule) for t in types]
