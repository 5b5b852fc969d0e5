"""Node rules (policies/rules/nodes.py) on the captured launch template, EC2NodeClass and
NodePool: IMDSv2, the IMDS hop limit, GPU limits."""

from __future__ import annotations

import pytest
from policy_cases import LT, NODECLASS, NODEPOOL, _broken_rules, _captured

from policies import BY_NAME


def test_captured_launch_template_with_imdsv1_is_caught():
    props = _captured(LT)
    props["metadataOptions"]["httpTokens"] = "optional"
    assert _broken_rules(LT, props) == {"imdsv2-required"}


def test_captured_nodepool_without_gpu_limit_is_caught():
    props = _captured(NODEPOOL)
    del props["spec"]["limits"]["nvidia.com/gpu"]
    assert _broken_rules(NODEPOOL, props) == {"gpu-nodepool-limits"}


# --------------------------------------------------------------------------- node metadata


def _broken(type_, props):
    return {r.name for r in BY_NAME.values() if r(type_, props)}


@pytest.mark.parametrize(
    "type_,path", [(LT, ("metadataOptions",)), (NODECLASS, ("spec", "metadataOptions"))]
)
def test_captured_node_metadata_with_two_hops_is_caught(type_, path):
    props = _captured(type_)
    before = _broken(type_, props)
    node = props
    for p in path:
        node = node[p]
    node["httpPutResponseHopLimit"] = 2
    assert _broken(type_, props) - before == {"imds-hop-limit"}
    assert "httpPutResponseHopLimit: 1" in BY_NAME["imds-hop-limit"](type_, props)[0]
