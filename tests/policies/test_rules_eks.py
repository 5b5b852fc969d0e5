"""EKS cluster rules (policies/rules/eks.py) on the planned stack."""

from __future__ import annotations

from policy_cases import EKS, PUBLIC
from support import plan

from trainstack.offline.plan_report import summary


def test_public_endpoint_stack_is_caught_and_summarised():
    result = plan("dev", **{"trainstack:cluster__endpoint": PUBLIC})
    hits = [v for v in result.mandatory_violations if v.rule == "eks-endpoint-not-public"]
    assert [v.type for v in hits] == [EKS]
    assert "eks-endpoint-not-public" in summary(result)
