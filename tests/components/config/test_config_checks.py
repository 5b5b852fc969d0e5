"""The checks several sections share (components/config/checks.py): each section that uses one
reports the same message under its own key, saying what is allowed."""

import copy

import pytest
from support import set_path

from components import config
from components.config import ConfigError
from policies import BY_NAME

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

JOB = {"nodePool": "small", "preset": "tiny", "nodes": 1, "checkpointVolume": "ckpt"}


def _issues(dev, *edits) -> list[str]:
    data = copy.deepcopy(dev)
    for path, value in edits:
        set_path(data, path, value)
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    return err.value.issues


# The four names that become Kubernetes object names: (edit, key, most characters).
DNS_NAMES = [
    (
        ("nodeGroups.Gpu_X", {"instanceTypes": ["g5.xlarge"], "minSize": 0, "maxSize": 1}),
        "trainstack:nodeGroups.Gpu_X",
        63,
    ),
    (
        ("karpenter.nodePools.Gpu_X", {"instanceFamilies": ["g5"], "maxGpus": 4}),
        "trainstack:karpenter.nodePools.Gpu_X",
        63,
    ),
    (("volumes.Gpu_X", {"type": "efs"}), "trainstack:volumes.Gpu_X", 63),
    (("trainingJobs.Gpu_X", JOB), "trainstack:trainingJobs.Gpu_X", 40),
]


@pytest.mark.parametrize("edit,key,most", DNS_NAMES, ids=[k for _, k, _ in DNS_NAMES])
def test_a_name_that_is_not_a_dns_label_is_refused_the_same_way_everywhere(dev, edit, key, most):
    issues = _issues(dev, edit, ("volumes.ckpt", {"type": "efs"}))
    assert issues == [
        f"{key}: name 'Gpu_X' must be a DNS label (lowercase letters, digits, '-'; at most "
        f"{most} characters" + ("; pod names add suffixes)" if most == 40 else ")")
    ]


def test_a_job_name_longer_than_its_pods_allow_is_refused(dev):
    name = "j" * 41  # a DNS label, but the pod names made from it would pass 63
    issues = _issues(dev, (f"trainingJobs.{name}", JOB), ("volumes.ckpt", {"type": "efs"}))
    assert issues == [
        f"trainstack:trainingJobs.{name}: name {name!r} must be a DNS label (lowercase "
        "letters, digits, '-'; at most 40 characters; pod names add suffixes)"
    ]


# A reference to a name defined elsewhere: (edits, the line expected).
UNKNOWN_NAMES = [
    (
        [("trainingJobs.j", {**JOB, "nodePool": "nope"}), ("volumes.ckpt", {"type": "efs"})],
        "trainstack:trainingJobs.j.nodePool = 'nope': no such GPU pool; known: gpu-g4dn, "
        "gpu-g5, large, small (karpenter.nodePools and GPU nodeGroups)",
    ),
    (
        [("devPod", {"enabled": True, "nodePool": "nope", "ssh": False})],
        "trainstack:devPod.nodePool = 'nope': no such GPU pool; known: gpu-g4dn, "
        "gpu-g5, large, small (karpenter.nodePools and GPU nodeGroups)",
    ),
    (
        [
            ("trainingJobs.j", {**JOB, "checkpointVolume": "nope"}),
            ("volumes.ckpt", {"type": "efs"}),
        ],
        "trainstack:trainingJobs.j.checkpointVolume = 'nope': no such volume; known: ckpt "
        "(trainstack:volumes)",
    ),
    (
        [("devPod", {"enabled": True, "nodePool": "small", "ssh": False, "volume": "nope"})],
        "trainstack:devPod.volume = 'nope': no such volume; known: (none) (trainstack:volumes)",
    ),
]


@pytest.mark.parametrize("edits,line", UNKNOWN_NAMES, ids=[line[:40] for _, line in UNKNOWN_NAMES])
def test_an_unknown_name_lists_the_known_ones(dev, edits, line):
    dev = {**dev, "trainingJobs": {}, "volumes": {}}
    assert line in _issues(dev, *edits)


def test_an_unknown_region_lists_the_known_ones(dev):
    with pytest.raises(ConfigError) as err:
        config.parse(dev, "mars-1")
    (line,) = err.value.issues
    assert line.startswith("aws:region = 'mars-1': unknown region; known: ")
    assert "us-west-2" in line.split("known: ")[1]


ALLOWED_RETENTION = (
    "allowed 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, "
    "3653 (CloudWatch's values from the policy pack's minimum of 30 days)"
)


@pytest.mark.parametrize("section", ["cluster", "image"])
def test_log_retention_is_one_cloudwatch_allows(dev, section):
    issues = _issues(dev, (f"{section}.logRetentionDays", 10))
    assert issues == [f"trainstack:{section}.logRetentionDays = 10: {ALLOWED_RETENTION}"]
    data = copy.deepcopy(dev)
    set_path(data, f"{section}.logRetentionDays", 60)
    assert config.parse(data).model_dump()[section]["log_retention_days"] == 60


@pytest.mark.parametrize("section", ["cluster", "image"])
def test_log_retention_the_pack_refuses_is_refused_at_config_time(dev, section):
    # CloudWatch accepts 14 days; the pack's log-group-min-retention would refuse the plan.
    issues = _issues(dev, (f"{section}.logRetentionDays", 14))
    assert issues == [f"trainstack:{section}.logRetentionDays = 14: {ALLOWED_RETENTION}"]
    assert BY_NAME["log-group-min-retention"](LOG_GROUP, {"retentionInDays": 14})
