"""The network bandwidth table agrees with AWS's DescribeInstanceTypes answers (moto's recording)."""

import gzip
import json
import re
from pathlib import Path

import moto

from components import catalog
from components.network_bandwidth import NETWORK_GBPS

RESOURCES = Path(moto.__file__).parent / "ec2" / "resources"


def published(info: dict) -> float:
    perf = info["NetworkPerformance"]
    if perf.startswith("Up to"):
        return sum(c["BaselineBandwidthInGbps"] for c in info["NetworkCards"])
    m = re.fullmatch(r"(?:(\d+)x )?([\d.]+) Gigabit", perf)
    assert m, perf
    return int(m.group(1) or 1) * float(m.group(2))


def test_every_gpu_instance_has_its_published_bandwidth():
    described = json.load(gzip.open(RESOURCES / "instance_types.json.gz"))
    assert set(NETWORK_GBPS) == set(catalog.GPU_INSTANCES)
    for name, gbps in NETWORK_GBPS.items():
        assert gbps == published(described[name]["NetworkInfo"]), name
