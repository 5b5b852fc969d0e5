"""ECR repository rules (policies/rules/ecr.py) on the captured repository."""

from __future__ import annotations

from policy_cases import ECR, _broken_rules, _captured


def test_captured_repository_with_mutable_tags_is_caught():
    props = _captured(ECR)
    props["imageTagMutability"] = "MUTABLE"
    assert _broken_rules(ECR, props) == {"ecr-immutable-tags"}
