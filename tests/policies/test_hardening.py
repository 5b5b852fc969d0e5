"""The mutation harness: every piece of hardening in the real plans (dev, efa, and the "full"
stack with every optional workload) is weakened one at a time, per policies/hardening/, and
the rule the table names must refuse the weakened plan as mandatory."""

from __future__ import annotations

import collections
import functools

import pytest
from workload_support import stack_plan

import policies
from policies import BY_NAME, MANDATORY, STACK_BY_NAME, hardening
from policies.mutate import mutations

STACKS = ("dev", "efa", "full")


@functools.cache
def _seen(stack: str) -> tuple[list, dict]:
    result = stack_plan(stack)
    return [policies.planned(r) for r in result.plan.resources], result.policy_config


def _mutants(stack: str):
    """(entry, resource name, location, the plan with that one input weakened)."""
    seen, _ = _seen(stack)
    for i, (_r, type_, props, names) in enumerate(seen):
        for entry in hardening.guarded(type_):
            if not entry.path:
                yield entry, names[0], "(dropped)", seen[:i] + seen[i + 1 :]
                continue
            for where, new in mutations(props, entry.segments, entry.weakening):
                yield entry, names[0], where, [*seen[:i], (_r, type_, new, names), *seen[i + 1 :]]


def _caught(entry: hardening.Guarded, mutated: list, changed: str, config: dict) -> bool:
    rule = BY_NAME.get(entry.rule) or STACK_BY_NAME[entry.rule]
    level, cfg = policies.rule_settings(rule.name, rule.enforcement, config)
    if level != MANDATORY:
        return False
    if entry.rule in STACK_BY_NAME:
        return bool(STACK_BY_NAME[entry.rule](mutated, cfg))
    return any(
        rule(type_, props, cfg) for _r, type_, props, names in mutated if names[0] == changed
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_weakening_is_refused_by_its_mandatory_rule(stack):
    _, config = _seen(stack)
    missed, counts = [], collections.Counter()
    for entry, name, where, mutated in _mutants(stack):
        counts[entry.type] += 1
        if not _caught(entry, mutated, name, config):
            missed.append(f"{name} {where}: {entry}")
    print(f"\n{stack}: {sum(counts.values())} mutations")
    for type_, n in sorted(counts.items()):
        print(f"  {n:4d} {type_}")
    assert not missed, "weakenings no mandatory rule refused:\n" + "\n".join(missed)


def test_every_plan_type_has_table_entries():
    types = {t for s in STACKS for _r, t, _p, _n in _seen(s)[0]}
    assert sorted(types - hardening.covered_types()) == []


def test_every_entry_is_exercised_and_names_a_mandatory_rule():
    hit = {entry for s in STACKS for entry, *_ in _mutants(s)}
    for entry in hardening.TABLE:
        if isinstance(entry, hardening.Guarded):
            rule = BY_NAME.get(entry.rule) or STACK_BY_NAME.get(entry.rule)
            assert rule is not None and rule.enforcement == MANDATORY, entry
            assert entry in hit, f"no plan has what this entry weakens: {entry}"
        else:
            assert len(entry.reason) > 20, entry


def test_the_plans_are_clean_before_any_weakening():
    for stack in STACKS:
        assert stack_plan(stack).mandatory_violations == [], stack
