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

from .aws import AWS
from .components import COMPONENTS
from .entries import DROP, RENDERED_WORKLOADS, Guarded, Unguarded, each
from .kubernetes import KUBERNETES

__all__ = [
    "AWS",
    "COMPONENTS",
    "DROP",
    "KUBERNETES",
    "RENDERED_WORKLOADS",
    "TABLE",
    "Guarded",
    "Unguarded",
    "covered_types",
    "each",
    "guarded",
]

TABLE: list[Guarded | Unguarded] = AWS + KUBERNETES + COMPONENTS


def guarded(type_: str) -> list[Guarded]:
    return [e for e in TABLE if isinstance(e, Guarded) and e.type == type_]


def covered_types() -> set[str]:
    return {e.type for e in TABLE}
