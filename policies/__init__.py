"""Platform policies. `policies.rules` holds the pure rules; `check_plan` runs them over the
offline plan; `policies/__main__.py` serves them to `pulumi preview --policy-pack policies`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .rules import (
    ADVISORY,
    ALL_RULES,
    BY_NAME,
    MANDATORY,
    STACK_BY_NAME,
    STACK_RULES,
    Rule,
    StackRule,
)
from .rules.base import Planned

# The name the pack registers with CrossGuard (policies/__main__.py): engine events carry it.
PACK_NAME = "trainstack-policies"

__all__ = [
    "ADVISORY",
    "ALL_RULES",
    "BY_NAME",
    "MANDATORY",
    "PACK_NAME",
    "STACK_BY_NAME",
    "STACK_RULES",
    "Rule",
    "StackRule",
    "Violation",
    "check_plan",
    "check_resource",
    "check_stack",
    "controls_of",
    "from_upstream_install",
    "planned",
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
    controls: tuple[str, ...] = ()

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


# Components whose children an upstream project defines: the training operator's kustomize
# overlay. A real preview registers every object of the overlay as a child (the offline plan
# sees only the component), with upstream's inputs, which the stack cannot edit. The pack judges
# them where the stack decides them, at the install (its pinned source), as it judges a Helm
# release, whose objects it never sees; docs/security.md lists what that leaves unguarded.
UPSTREAM_INSTALLS = ("kubernetes:kustomize/v2:Directory",)


def from_upstream_install(urn: str) -> bool:
    """Whether `urn` names an object created under an upstream install: its qualified type
    (`urn:pulumi:STACK::PROJECT::parent$...$type::NAME`) has such a component among its
    parents."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return False
    return any(t in UPSTREAM_INSTALLS for t in parts[2].split("$")[:-1])


def controls_of(rule_name: str) -> tuple[str, ...]:
    """The baseline controls a rule of this pack enforces; () for a name it does not have."""
    rule = BY_NAME.get(rule_name) or STACK_BY_NAME.get(rule_name)
    return rule.controls if rule else ()


def planned(r: Any) -> Planned:
    """One offline-plan Captured resource as the rules see it: inputs with secrets unwrapped (as
    the policy engine would see them) and the names a stack rule may know it by."""
    props = {k: v for k, v in r.plain_inputs.items() if not k.startswith("__")}
    names = tuple(str(n) for n in (r.name, r.id, r.state.get("bucket")) if n)
    return r, r.type, props, names


def check_resource(
    type_: str, props: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> list[tuple[Rule, str, str]]:
    """(rule, level, message) for every violation of one resource's inputs."""
    out = []
    for rule in ALL_RULES:
        if not rule.applies_to(type_):
            continue
        level, cfg = rule_settings(rule.name, rule.enforcement, config)
        if level != "disabled":
            out += [(rule, level, m) for m in rule(type_, props, cfg)]
    return out


def check_stack(
    resources: Sequence[Planned], config: Mapping[str, Any] | None = None
) -> list[tuple[StackRule, str, Any, str]]:
    """(rule, level, handle, message) for every stack rule's violation."""
    out = []
    for rule in STACK_RULES:
        level, cfg = rule_settings(rule.name, rule.enforcement, config)
        if level != "disabled":
            out += [(rule, level, handle, m) for handle, m in rule(resources, cfg)]
    return out


def check_plan(
    resources: Iterable[Any], config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Run every rule over the offline plan's Captured resources. `config` is shaped like the
    policy pack's config."""
    seen = [planned(r) for r in resources]
    out = [
        Violation(r.name, type_, r.urn, rule.name, level, m, rule.controls)
        for r, type_, props, _ in seen
        for rule, level, m in check_resource(type_, props, config)
    ]
    out += [
        Violation(r.name, r.type, r.urn, rule.name, level, m, rule.controls)
        for rule, level, r, m in check_stack(seen, config)
    ]
    return out
