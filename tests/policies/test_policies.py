"""The pack's rules as policies/__init__.py registers and runs them: each rule on a violating
and a compliant input, every rule covered and described, pack config changing a level, the
example stacks clean, and stack-level checks through check_plan."""

from __future__ import annotations

import pytest
from cases_aws import AWS_CASES
from cases_kubernetes import K8S_CASES
from policy_cases import CASES, PUBLIC
from security_cases import SECURITY_CASES
from support import plan

import policies
from policies import BY_NAME, MANDATORY, check_plan

# The rules added with the hardening table, one list per domain.
NEW_CASES = AWS_CASES + K8S_CASES


@pytest.mark.parametrize(
    "name,type_,bad,good", CASES, ids=[f"{c[0]}:{c[1].split(':')[-1]}" for c in CASES]
)
def test_rule_flags_the_violation_and_passes_the_fix(name, type_, bad, good):
    rule = BY_NAME[name]
    found = rule(type_, bad)
    assert found and all(isinstance(m, str) and ": " in m for m in found), found
    assert rule(type_, good) == []


def test_every_rule_has_a_case_and_metadata():
    assert {c[0] for c in CASES + SECURITY_CASES + NEW_CASES} == set(BY_NAME)
    assert len(BY_NAME) >= 20
    for rule in BY_NAME.values():
        assert rule.description and rule.types
        assert rule.enforcement in (MANDATORY, policies.ADVISORY)
        for case in CASES + SECURITY_CASES + NEW_CASES:
            if case[0] == rule.name:
                assert rule.applies_to(case[1])


@pytest.mark.parametrize(
    "name,type_,bad,good",
    SECURITY_CASES + NEW_CASES,
    ids=[f"{c[0]}:{c[1].split(':')[-1]}" for c in SECURITY_CASES + NEW_CASES],
)
def test_security_rule_flags_the_violation_and_passes_the_fix(name, type_, bad, good):
    rule = BY_NAME[name]
    found = rule(type_, bad)
    assert found and all(": " in m for m in found), found
    assert rule(type_, good) == []


def test_pack_config_can_lower_or_disable_a_rule():
    broken = plan("dev", **{"trainstack:cluster__endpoint": PUBLIC})
    rule = "eks-endpoint-not-public"
    advisory = check_plan(broken.plan.resources, {rule: "advisory"})
    assert {v.level for v in advisory if v.rule == rule} == {"advisory"}
    disabled = check_plan(broken.plan.resources, {rule: {"enforcementLevel": "disabled"}})
    assert not [v for v in disabled if v.rule == rule]


# The check that holds once the pod hardening (seccomp RuntimeDefault in components/pod_spec.py)
# is merged with the restricted-profile rules: until then the job pods fail
# pod-seccomp-restricted (see test_rules_pod_security).
@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_have_no_mandatory_violations(stack):
    result = plan(stack)
    assert result.mandatory_violations == []
    assert [v for v in result.policy_violations if v.level == MANDATORY] == []


def test_bucket_without_protections_is_caught_at_stack_level():
    resources = [
        r for r in plan("dev").plan.resources if not r.type.startswith("aws:s3/bucketVersioning")
    ]
    found = [v for v in check_plan(resources) if v.rule == "s3-bucket-protected"]
    # One per bucket: the image sources and the artifacts (components/artifacts.py).
    assert sorted(v.resource for v in found) == [
        "trainstack-artifacts-bucket",
        "trainstack-image-sources",
    ]
    assert all("versioning" in v.message and v.type == "aws:s3/bucket:Bucket" for v in found)
