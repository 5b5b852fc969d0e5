"""`trainstack:cluster`: each bad value is rejected in one line naming its key and what is
allowed."""

import copy

import pytest
from support import assert_rejected_naming_the_key

from components import config

# (edit path, value, expected key path in the message, a phrase of what is allowed)
INVALID = [
    ("cluster.kubernetesVersion", "1.29", "trainstack:cluster.kubernetesVersion", "1.31, 1.32"),
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
    ("cluster.logRetentionDays", 10, "trainstack:cluster.logRetentionDays", "CloudWatch allows"),
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
