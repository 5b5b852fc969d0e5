"""`trainstack:network` and `aws:region`: each bad value is rejected naming its key."""

import copy

import pytest
from support import assert_rejected_naming_the_key

from components import config
from components.config import ConfigError

# (edit path, value, expected key path in the message, a phrase of what is allowed)
INVALID = [
    ("network.cidr", "10.0.0.0/33", "trainstack:network.cidr", "IPv4 network"),
    ("network.cidr", "10.0.0.0/24", "trainstack:network.cidr", "/16 to /20"),
    ("network.cidr", "8.8.0.0/16", "trainstack:network.cidr", "private"),
    ("network.azCount", 5, "trainstack:network.azCount", "allowed 2..4"),
    ("network.azCount", 1, "trainstack:network.azCount", "at least 2"),
]


@pytest.mark.parametrize(
    "path,value,key,allowed", INVALID, ids=[f"{p}={v!r}" for p, v, *_ in INVALID]
)
def test_invalid_network_is_rejected_naming_the_key(dev, path, value, key, allowed):
    assert_rejected_naming_the_key(dev, path, value, key, allowed)


def test_region_decides_zone_count(dev):
    data = copy.deepcopy(dev)
    data["network"]["azCount"] = 3
    with pytest.raises(ConfigError, match="us-west-1 has 2 zones"):
        config.parse(data, "us-west-1")
    assert config.parse(data, "us-east-1").zones() == ("us-east-1a", "us-east-1b", "us-east-1c")
    with pytest.raises(ConfigError, match="aws:region = 'mars-1'"):
        config.parse(data, "mars-1")
