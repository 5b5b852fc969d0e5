"""The CIS Amazon EKS Benchmark's Kubernetes policies section against the pack: every
recommendation is enforced by a mandatory rule naming it (none is rated LOW) or says why not,
and every CIS ID a rule names is one of the benchmark's."""

from __future__ import annotations

from policies import ALL_RULES, MANDATORY, STACK_RULES
from policies.baselines.cis_eks import CIS_EKS


def _naming(control_id):
    return [r for r in [*ALL_RULES, *STACK_RULES] if control_id in r.controls]


def test_every_recommendation_is_enforced_or_explained():
    assert CIS_EKS.version and CIS_EKS.source
    unexplained = [
        c.id
        for c in CIS_EKS.controls
        if not c.reason and not any(r.enforcement == MANDATORY for r in _naming(c.id))
    ]
    assert unexplained == []
    # An explained recommendation is one no rule claims.
    assert [c.id for c in CIS_EKS.controls if c.reason and _naming(c.id)] == []


def test_rules_name_only_the_benchmarks_ids():
    ids = {c.id for c in CIS_EKS.controls}
    named = {c for r in [*ALL_RULES, *STACK_RULES] for c in r.controls if c.startswith("CIS EKS")}
    assert named <= ids and len(ids) == len(CIS_EKS.controls) == 23
