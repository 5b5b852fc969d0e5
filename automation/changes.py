"""Resource changes by trainstack component, from the engine's resource events.

A URN carries its parents' types: `urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>`
(the root Stack is left out of the chain). Every resource of this program sits under
`trainstack:platform:Platform` (components/platform.py); the component under it (Network,
Cluster, Karpenter, ...; the `super().__init__("trainstack:...")` types in components/) is the
group a reviewer thinks in.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

PLATFORM_TYPE = "trainstack:platform:Platform"
COMPONENT_PREFIX = "trainstack:"
NO_COMPONENT = "(outside the components: providers, stack)"
# The ops a reviewer counts. A replacement also emits create-replacement and delete-replaced
# steps for the same resource; counting only `replace` keeps it one change.
COUNTED_OPS = ("create", "update", "replace", "delete")
# What the engine does not count as a change (its ResourceChanges.HasChanges skips these).
NOT_CHANGES = frozenset({"same", "read", "discard", "read-replacement"})


def type_chain(urn: str) -> list[str]:
    """The types in a URN, outermost parent first; [] for anything that is not a URN."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        return []
    return parts[2].split("$")


def component_of(urn: str) -> str:
    """The top-level trainstack component a resource belongs to, by its short type name."""
    chain = type_chain(urn)
    if not chain or chain[0] != PLATFORM_TYPE:
        return NO_COMPONENT
    below = chain[1:]
    if below and below[0].startswith(COMPONENT_PREFIX):
        return below[0].rsplit(":", 1)[-1]
    return "Platform"  # the root itself, or a resource it owns directly (KMS keys, ...)


def resource_label(urn: str) -> str:
    """`name (type)` of a URN, for a table cell; the URN itself when it does not parse."""
    chain = type_chain(urn)
    if not chain:
        return urn
    return f"{urn.rsplit('::', 1)[-1]} ({chain[-1]})"


def has_changes(changes: Mapping[str, int] | None) -> bool:
    return any(count > 0 for op, count in (changes or {}).items() if op not in NOT_CHANGES)


class ChangeTally:
    """Counts each (resource, op) once per component; fed from the SDK's event thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()

    def add(self, urn: str, op: str) -> None:
        if op in COUNTED_OPS:
            with self._lock:
                self._seen.add((urn, op))

    def by_component(self) -> dict[str, dict[str, int]]:
        with self._lock:
            seen = sorted(self._seen)
        out: dict[str, dict[str, int]] = {}
        for urn, op in seen:
            counts = out.setdefault(component_of(urn), dict.fromkeys(COUNTED_OPS, 0))
            counts[op] += 1
        return dict(sorted(out.items()))
