"""`trainstack:cluster`: each bad value is rejected in one line naming its key and what is
allowed."""

import copy

import pytest
from support import assert_rejected_naming_the_key

from components import config, versions

# (edit path, value, expected key path in the message, a phrase of what is allowed)
INVALID = [
    ("cluster.kubernetesVersion", "1.29", "trainstack:cluster.kubernetesVersion", "1.32, 1.33"),
    ("cluster.kubernetesVersion", 1.3, "trainstack:cluster.kubernetesVersion", "quoted string"),
    (
        "cluster.endpoint.publicAccessCidrs",
        ["0.0.0.0/0"],
        "trainstack:cluster.endpoint.publicAccessCidrs[0]",
        "allowPublicFromAnywhere",
    ),
    (
        "cluster.endpoint",
        {"public": True},
        "trainstack:cluster.endpoint.publicAccessCidrs",
        "needs the CIDRs",
    ),
    (
        "cluster.adminPrincipals",
        ["alice"],
        "trainstack:cluster.adminPrincipals[0]",
        "role or user ARN",
    ),
    ("cluster.logRetentionDays", 10, "trainstack:cluster.logRetentionDays", "allowed 30, 60"),
    # The vpc-cni add-on is pinned (components/versions.py) for the versions it is documented
    # for; another version names its build, which must have the network policy agent.
    (
        "cluster.kubernetesVersion",
        "1.35",
        "trainstack:cluster.vpcCniVersion",
        "documented for Kubernetes 1.32, 1.33, 1.34, not 1.35",
    ),
    ("cluster.vpcCniVersion", "1.20.4", "trainstack:cluster.vpcCniVersion", "add-on version"),
    (
        "cluster.vpcCniVersion",
        "v1.13.4-eksbuild.1",
        "trainstack:cluster.vpcCniVersion",
        "network policy agent",
    ),
]


@pytest.mark.parametrize(
    "path,value,key,allowed", INVALID, ids=[f"{p}={v!r}" for p, v, *_ in INVALID]
)
def test_invalid_cluster_is_rejected_naming_the_key(dev, path, value, key, allowed):
    assert_rejected_naming_the_key(dev, path, value, key, allowed)


def test_public_endpoint_from_anywhere_needs_opt_in(dev):
    data = copy.deepcopy(dev)
    data["cluster"]["endpoint"] = {
        "public": True,
        "publicAccessCidrs": ["0.0.0.0/0"],
        "allowPublicFromAnywhere": True,
    }
    assert config.parse(data).cluster.endpoint.allow_public_from_anywhere


def test_vpc_cni_is_the_pin_unless_named(dev):
    assert config.parse(copy.deepcopy(dev), "us-west-2").cluster.vpc_cni_addon_version == (
        versions.VPC_CNI_ADDON_VERSION
    )
    data = copy.deepcopy(dev)
    data["cluster"] = {**data["cluster"], "kubernetesVersion": "1.35"}
    data["cluster"]["vpcCniVersion"] = "v1.21.1-eksbuild.1"
    cfg = config.parse(data, "us-west-2")
    assert cfg.cluster.vpc_cni_addon_version == "v1.21.1-eksbuild.1"
