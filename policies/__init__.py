"""Platform policies. `policies.rules` holds the pure rules; `check_plan` runs them over the
offline plan; `policies/__main__.py` serves them to `pulumi preview --policy-pack policies`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import stack
from .rules import ADVISORY, ALL_RULES, BY_NAME, MANDATORY, Rule

__all__ = [
    "ADVISORY",
    "ALL_RULES",
    "BY_NAME",
    "MANDATORY",
    "Rule",
    "Violation",
    "check_plan",
    "rule_settings",
]


@dataclass(frozen=True)
class Violation:
    resource: str
    type: str
    urn: str
    rule: str
    level: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.level == MANDATORY


def rule_settings(
    name: str, default_level: str, config: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """(enforcement level, rule config) from a policy-pack style config, where a rule's entry is
    either a level ("advisory", "mandatory", "disabled") or {"enforcementLevel": ..., ...}."""
    entry = (config or {}).get(name)
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping):
        rest = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        return entry.get("enforcementLevel", default_level), rest
    return default_level, {}


def check_plan(
    resources: Iterable[Any], config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Run every rule over the offline plan's Captured resources (secrets unwrapped, as the
    policy engine would see them). `config` is shaped like the policy pack's config."""
    resources = list(resources)
    out: list[Violation] = []
    seen: list[tuple[Any, str, Mapping[str, Any], tuple[str, ...]]] = []
    for r in resources:
        props = {k: v for k, v in r.plain_inputs.items() if not k.startswith("__")}
        names = tuple(str(n) for n in (r.name, r.id, r.state.get("bucket")) if n)
        seen.append((r, r.type, props, names))
        for rule in ALL_RULES:
            if not rule.applies_to(r.type):
                continue
            level, cfg = rule_settings(rule.name, rule.enforcement, config)
            if level == "disabled":
                continue
            out += [
                Violation(r.name, r.type, r.urn, rule.name, level, m)
                for m in rule(r.type, props, cfg)
            ]
    level, _ = rule_settings(stack.NAME, stack.ENFORCEMENT, config)
    if level != "disabled":
        out += [
            Violation(r.name, r.type, r.urn, stack.NAME, level, message)
            for r, message in stack.bucket_violations(seen)
        ]
    return out
