"""EKS cluster rules (policies/rules/eks.py) on the planned stack."""

from __future__ import annotations

from policy_cases import EKS, PUBLIC
from support import plan

from components import versions
from policies import ALL_RULES
from policies.required import OLDEST_EKS_KUBERNETES
from policies.rules.eks import _version_key
from trainstack.offline.plan_report import summary


def test_public_endpoint_stack_is_caught_and_summarised():
    result = plan("dev", **{"trainstack:cluster__endpoint": PUBLIC})
    hits = [v for v in result.mandatory_violations if v.rule == "eks-endpoint-not-public"]
    assert [v.type for v in hits] == [EKS]
    assert "eks-endpoint-not-public" in summary(result)


def test_the_oldest_version_the_stack_offers_is_one_the_pack_accepts():
    # components/versions.py lists what config accepts; policies/required.py what the pack
    # does: a version config allowed that eks-supported-version refused would fail at preview.
    oldest = min(versions.KUBERNETES_VERSIONS, key=_version_key)
    assert _version_key(oldest) == _version_key(OLDEST_EKS_KUBERNETES)


def test_a_rule_citing_fsbp_eks1_refuses_every_public_endpoint():
    # EKS.1's AWS Config rule, eks-endpoint-no-public-access, is NON_COMPLIANT for any public
    # endpoint (AWS Config developer guide): one limited to CIDRs fails it too.
    limited = {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
    for rule in [r for r in ALL_RULES if "FSBP EKS.1" in r.controls]:
        assert rule(EKS, limited), rule.name
