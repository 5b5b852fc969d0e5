"""The whole stack config: unknown keys, names unique across sections, every problem at once."""

import copy

import pytest
from support import assert_rejected_naming_the_key

from components import config
from components.config import ConfigError

# (edit path, value, expected key path in the message, a phrase of what is allowed)
INVALID = [
    (
        "karpenter.nodePools.gpu-g5",
        {"instanceFamilies": ["g5"], "maxGpus": 2},
        "trainstack:karpenter.nodePools.gpu-g5",
        "unique across nodeGroups",
    ),
    ("nodeGroups.gpu-g5.minsize", 1, "trainstack:nodeGroups.gpu-g5.minsize", "allowed here: role"),
]


@pytest.mark.parametrize(
    "path,value,key,allowed", INVALID, ids=[f"{p}={v!r}" for p, v, *_ in INVALID]
)
def test_invalid_config_is_rejected_naming_the_key(dev, path, value, key, allowed):
    assert_rejected_naming_the_key(dev, path, value, key, allowed)


def test_every_problem_is_reported_at_once(dev):
    data = copy.deepcopy(dev)
    data["nodeGroups"]["gpu-g5"]["minSize"] = 5
    data["karpenter"]["nodePools"]["small"].pop("maxGpus")
    data["network"]["azCount"] = 9
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    assert len(err.value.issues) == 3
