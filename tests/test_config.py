"""Stack config validation: good stacks parse; each bad value is rejected naming its key path."""

import copy

import pytest
import yaml

from components import config
from components.config import ConfigError


def stack_data(stack: str) -> tuple[dict, str]:
    raw = yaml.safe_load(open(f"Pulumi.{stack}.yaml"))["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    return data, raw["aws:region"]


@pytest.fixture
def dev():
    return stack_data("dev")[0]


def test_example_stacks_parse_with_their_ceilings():
    dev = config.parse(*stack_data("dev"))
    # g4dn group 2 nodes x1 GPU + g5 group 2x1 + small pool 4 + large pool 64.
    assert dev.gpu_ceiling() == 2 + 2 + 4 + 64
    assert dev.zones() == ("us-west-2a", "us-west-2b")
    assert not dev.efa_in_use
    efa = config.parse(*stack_data("efa"))
    assert efa.efa_in_use
    assert efa.gpu_ceiling() == 4 * 4 + 32
    assert [i.name for i in efa.node_pools["efa"].allowed_instances()] == [
        "g5.12xlarge",
        "g5.24xlarge",
        "g5.48xlarge",
    ]


def set_path(data: dict, path: str, value):
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value


DELETE = object()

# (edit path, value, expected key path in the message, a phrase of what is allowed)
INVALID = [
    (
        "nodeGroups.gpu-g5.minSize",
        3,
        "trainstack:nodeGroups.gpu-g5.minSize",
        "minSize <= desiredSize",
    ),
    ("nodeGroups.gpu-g5.desiredSize", 5, "trainstack:nodeGroups.gpu-g5.desiredSize", "outside"),
    (
        "nodeGroups.system.desiredSize",
        1,
        "trainstack:nodeGroups.system.desiredSize",
        "allowed minSize <= desiredSize <= maxSize",
    ),
    (
        "nodeGroups.gpu-g5.minSize",
        -1,
        "trainstack:nodeGroups.gpu-g5.minSize",
        "greater than or equal to 0",
    ),
    (
        "nodeGroups.gpu-g5.maxSize",
        -2,
        "trainstack:nodeGroups.gpu-g5.maxSize",
        "greater than or equal to 0",
    ),
    (
        "nodeGroups.gpu-g5.instanceTypes",
        ["g5.xlarg"],
        "trainstack:nodeGroups.gpu-g5.instanceTypes[0]",
        "not an EC2 instance type",
    ),
    (
        "nodeGroups.gpu-g5.instanceTypes",
        ["m6i.2xlarge"],
        "trainstack:nodeGroups.gpu-g5.instanceTypes[0]",
        "GPU families",
    ),
    ("nodeGroups.gpu-g5.efa", True, "trainstack:nodeGroups.gpu-g5.instanceTypes[0]", "g5.8xlarge"),
    ("network.cidr", "10.0.0.0/33", "trainstack:network.cidr", "IPv4 network"),
    ("network.cidr", "10.0.0.0/24", "trainstack:network.cidr", "/16 to /20"),
    ("network.cidr", "8.8.0.0/16", "trainstack:network.cidr", "private"),
    ("network.azCount", 5, "trainstack:network.azCount", "allowed 2..4"),
    ("network.azCount", 1, "trainstack:network.azCount", "at least 2"),
    ("cluster.kubernetesVersion", "1.29", "trainstack:cluster.kubernetesVersion", "1.31, 1.32"),
    ("cluster.kubernetesVersion", 1.3, "trainstack:cluster.kubernetesVersion", "quoted string"),
    (
        "karpenter.nodePools.small.maxGpus",
        DELETE,
        "trainstack:karpenter.nodePools.small.maxGpus",
        "without bound",
    ),
    (
        "karpenter.nodePools.gpu-g5",
        {"instanceFamilies": ["g5"], "maxGpus": 2},
        "trainstack:karpenter.nodePools.gpu-g5",
        "unique across nodeGroups",
    ),
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
    ("nodeGroups.gpu-g5.minsize", 1, "trainstack:nodeGroups.gpu-g5.minsize", "allowed here: role"),
    (
        "karpenter.nodePools.small.consolidateAfter",
        "30s",
        "trainstack:karpenter.nodePools.small.consolidateAfter",
        "5m or more",
    ),
    (
        "karpenter.nodePools.small.instanceFamilies",
        ["m6i"],
        "trainstack:karpenter.nodePools.small.instanceFamilies[0]",
        "allowed: g4dn",
    ),
    (
        "karpenter.nodePools.large.maxGpus",
        2,
        "trainstack:karpenter.nodePools.large.maxGpus",
        "smallest instance",
    ),
    ("karpenter.amiAlias", "al2023@latest", "trainstack:karpenter.amiAlias", "pin an AL2023"),
    (
        "nodeGroups.system.capacityType",
        "SPOT",
        "trainstack:nodeGroups.system.capacityType",
        "ON_DEMAND",
    ),
    (
        "nodeGroups.system.instanceTypes",
        ["g5.xlarge"],
        "trainstack:nodeGroups.system.instanceTypes[0]",
        "general-purpose",
    ),
    (
        "nodeGroups.gpu-g5.capacityType",
        "spot",
        "trainstack:nodeGroups.gpu-g5.capacityType",
        "'ON_DEMAND' or 'SPOT'",
    ),
    (
        "nodeGroups.GPU_big",
        {"instanceTypes": ["g5.xlarge"], "minSize": 0, "maxSize": 1},
        "trainstack:nodeGroups.GPU_big",
        "DNS label",
    ),
    (
        "cluster.adminPrincipals",
        ["alice"],
        "trainstack:cluster.adminPrincipals[0]",
        "role or user ARN",
    ),
    ("cluster.logRetentionDays", 10, "trainstack:cluster.logRetentionDays", "CloudWatch allows"),
    ("nodeGroups.gpu-g5.diskSizeGib", 50, "trainstack:nodeGroups.gpu-g5.diskSizeGib", "100 GiB"),
]


@pytest.mark.parametrize(
    "path,value,key,allowed", INVALID, ids=[f"{p}={v!r}" for p, v, *_ in INVALID]
)
def test_invalid_config_is_rejected_naming_the_key(dev, path, value, key, allowed):
    data = copy.deepcopy(dev)
    set_path(data, path, value)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    lines = [i for i in err.value.issues if i.startswith(key)]
    assert lines, f"no issue names {key}: {err.value.issues}"
    assert any(allowed in line for line in lines), lines
    assert len(err.value.issues) == 1, err.value.issues  # one message per problem, no noise


def test_every_problem_is_reported_at_once(dev):
    data = copy.deepcopy(dev)
    data["nodeGroups"]["gpu-g5"]["minSize"] = 5
    data["karpenter"]["nodePools"]["small"].pop("maxGpus")
    data["network"]["azCount"] = 9
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    assert len(err.value.issues) == 3


def test_region_decides_zone_count(dev):
    data = copy.deepcopy(dev)
    data["network"]["azCount"] = 3
    with pytest.raises(ConfigError, match="us-west-1 has 2 zones"):
        config.parse(data, "us-west-1")
    assert config.parse(data, "us-east-1").zones() == ("us-east-1a", "us-east-1b", "us-east-1c")
    with pytest.raises(ConfigError, match="aws:region = 'mars-1'"):
        config.parse(data, "mars-1")


def test_public_endpoint_from_anywhere_needs_opt_in(dev):
    data = copy.deepcopy(dev)
    data["cluster"]["endpoint"] = {
        "public": True,
        "publicAccessCidrs": ["0.0.0.0/0"],
        "allowPublicFromAnywhere": True,
    }
    assert config.parse(data).cluster.endpoint.allow_public_from_anywhere


def test_exactly_one_system_group(dev):
    data = copy.deepcopy(dev)
    data["nodeGroups"]["system"]["role"] = "gpu"
    data["nodeGroups"]["system"]["instanceTypes"] = ["g5.xlarge"]
    with pytest.raises(ConfigError, match="exactly one group with role: system"):
        config.parse(data)


def test_disabled_karpenter_skips_pool_checks(dev):
    data = copy.deepcopy(dev)
    data["karpenter"]["enabled"] = False
    data["karpenter"]["nodePools"]["small"].pop("maxGpus")
    data["trainingJobs"] = {}  # its job runs on a Karpenter pool
    cfg = config.parse(data)
    assert cfg.node_pools == {}
    assert cfg.gpu_ceiling() == 4
