"""`trainstack:nodeGroups` and `trainstack:karpenter`: bad values rejected naming their key, and
the facts every reader of a pool gets from `facts()`."""

import copy

import pytest
from support import DELETE, assert_rejected_naming_the_key, stack_data

from components import config
from components.config import ConfigError

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
    (
        "karpenter.nodePools.small.maxGpus",
        DELETE,
        "trainstack:karpenter.nodePools.small.maxGpus",
        "without bound",
    ),
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
        "karpenter.nodePools.Big_Pool",
        {"instanceFamilies": ["g5"], "maxGpus": 4},
        "trainstack:karpenter.nodePools.Big_Pool",
        "DNS label",
    ),
    ("nodeGroups.gpu-g5.diskSizeGib", 50, "trainstack:nodeGroups.gpu-g5.diskSizeGib", "100 GiB"),
]


@pytest.mark.parametrize(
    "path,value,key,allowed", INVALID, ids=[f"{p}={v!r}" for p, v, *_ in INVALID]
)
def test_invalid_pool_is_rejected_naming_the_key(dev, path, value, key, allowed):
    assert_rejected_naming_the_key(dev, path, value, key, allowed)


def test_example_stacks_parse_with_their_ceilings():
    dev = config.parse(*stack_data("dev"))
    # g4dn group 2 nodes x1 GPU + g5 group 2x1 + small pool 4 + large pool 64.
    assert dev.gpu_ceiling() == 2 + 2 + 4 + 64
    assert dev.zones() == ("us-west-2a", "us-west-2b")
    assert not dev.efa_in_use
    efa = config.parse(*stack_data("efa"))
    assert efa.efa_in_use
    assert efa.gpu_ceiling() == 4 * 4 + 32
    assert [i.name for i in efa.node_pools["efa"].facts("efa").instances] == [
        "g5.12xlarge",
        "g5.24xlarge",
        "g5.48xlarge",
    ]


def test_facts_of_a_node_group_and_a_node_pool():
    """One answer per pool for what jobs, pod sizing, the plan and the cost estimate read."""
    group = config.NodeGroupConfig(
        instance_types=["g5.12xlarge", "g5.xlarge"], min_size=0, max_size=3, capacity_type="SPOT"
    ).facts("g")
    assert (group.name, group.karpenter, group.spot, group.efa) == ("g", False, True, False)
    # maxSize nodes of its largest instance: 3 x 4 GPUs.
    assert (group.max_nodes, group.max_gpus, group.max_gpus_per_node) == (3, 12, 4)
    assert group.gpus_of("g5.xlarge") == 1 and group.gpus_of("m6i.large") == 0
    assert group.smallest_fitting(2).name == "g5.12xlarge"
    system = config.NodeGroupConfig(instance_types=["m6i.large"], min_size=1, max_size=2)
    assert system.facts("system").instances == () and system.facts("system").max_gpus == 0

    pool = config.NodePoolConfig(
        instance_families=["g5"], capacity_types=["spot", "on-demand"], max_gpus=16, efa=True
    ).facts("p")
    assert (pool.karpenter, pool.spot, pool.efa, pool.max_gpus, pool.max_nodes) == (
        True,
        True,
        True,
        16,
        None,
    )
    # An EFA pool launches only the EFA sizes of its families (the catalog's efa flag).
    assert pool.instances and all(i.efa and i.family == "g5" for i in pool.instances)
    assert "g5.xlarge" not in [i.name for i in pool.instances]


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
