"""`trainstack:queues` and a job's `queue`/`priority`: quotas from the pools' ceilings, teams and
the cohort they share, priorities, and every refusal naming its key (config/queues.py)."""

import copy

import pytest
from support import assert_rejected_naming_the_key, set_path

from components import config
from components.config import ConfigError
from components.config.queues import Quota

JOB = "trainingJobs.llama-1b"  # dev: 4 nodes x 1 GPU on the NodePool `small`


def running_server(pool: str, gpus: int, replicas: int) -> dict:
    """`servingJobs` with one running server, and the credentials its image and model need."""
    return {
        "servingJobs": {
            "chat": {
                "model": "hf://Qwen/Qwen2.5-0.5B-Instruct",
                "hfToken": True,
                "nodePool": pool,
                "gpus": gpus,
                "replicas": replicas,
                "maxModelLen": 4096,
            }
        },
        "hfToken": "hf_x",
        "dockerHubUser": "ci",
        "dockerHubToken": "dckr_pat_x",
    }


def parsed(dev: dict, **edits) -> config.PlatformConfig:
    data = copy.deepcopy(dev)
    for path, value in edits.items():
        set_path(data, path.replace("__", "."), value)
    return config.parse(data, "us-west-2")


def test_without_a_queues_section_every_pool_has_a_queue_at_its_ceiling(dev):
    plan = parsed(dev).queue_plan()
    assert {n: (q.team, list(q.quotas)) for n, q in plan.queues.items()} == {
        p: (False, [p]) for p in ("gpu-g4dn", "gpu-g5", "small", "large")
    }
    # A NodePool: maxGpus, with the CPU and memory of the type that brings the most of them
    # within it (small: 4 x g5.16xlarge, 1 GPU, 64 vCPUs, 256 GiB each; large: 16 x
    # g5.24xlarge within maxNodes 16 and maxGpus 64). A node group: maxSize x its GPUs per node.
    assert plan.pools == {
        "small": Quota(4, 256, 1024),
        "large": Quota(64, 1536, 6144),
        "gpu-g5": Quota(2, 8, 32),  # 2 x g5.xlarge
        "gpu-g4dn": Quota(2, 16, 64),  # 2 x g4dn.2xlarge, the larger of its types
    }
    assert plan.queues["large"].quotas["large"] == plan.pools["large"]


def test_a_team_takes_its_share_and_the_pools_queue_keeps_the_rest_in_one_cohort(dev):
    plan = parsed(
        dev,
        queues__teams={
            "research": {"pools": {"large": 16, "small": 1}},
            "prod": {"pools": {"large": 32}, "borrow": False},
        },
    ).queue_plan()
    assert plan.queues["research"].quotas == {
        "large": Quota(16, 384, 1536),  # a quarter of the pool's CPU and memory with its GPUs
        "small": Quota(1, 64, 256),
    }
    assert plan.queues["large"].quotas["large"] == Quota(16, 384, 1536)  # 64 - 16 - 32
    total = Quota(0, 0, 0)
    for q in ("research", "prod", "large"):
        total = total + plan.queues[q].quotas["large"]
    assert total == plan.pools["large"]  # the nominal quotas add up to the pool, no more
    # Borrowing: a queue may reach the whole pool; `borrow: false` keeps prod at its share.
    assert plan.most_gpus("research", "large") == 64
    assert plan.most_gpus("prod", "large") == 32
    assert plan.most_gpus("prod", "small") is None


def test_running_servers_come_off_their_pools_quota_and_the_idle_stopping_dev_pod_does_not(dev):
    dev.update(running_server("large", gpus=2, replicas=2))
    cfg = parsed(dev, devPod={"enabled": True, "nodePool": "large", "gpus": 1, "ssh": False})
    plan = cfg.queue_plan()
    assert plan.held == {"large": 4} and plan.ceilings["large"] == 64
    assert plan.pools["large"] == Quota(64, 1536, 6144).share(60)


@pytest.mark.parametrize(
    ("path", "value", "key", "allowed"),
    [
        # A team without a pool.
        ("queues.teams", {"research": {}}, "trainstack:queues.teams.research.pools", "missing"),
        (
            "queues.teams",
            {"research": {"pools": {"nope": 4}}},
            "trainstack:queues.teams.research.pools.nope",
            "no such GPU pool",
        ),
        (
            "queues.teams",
            {"research": {"pools": {"large": 0}}},
            "trainstack:queues.teams.research.pools.large",
            "at least 1 GPU",
        ),
        (
            "queues.teams",
            {"small": {"pools": {"large": 4}}},
            "trainstack:queues.teams.small",
            "default queue",
        ),
        (
            "queues.teams",
            {"a": {"pools": {"large": 40}}, "b": {"pools": {"large": 40}}},
            "trainstack:queues.teams",
            "add up to 80 GPUs (a 40, b 40), above the 64",
        ),
        (
            "queues.defaultPriority",
            "urgent",
            "trainstack:queues.defaultPriority",
            "no such priority",
        ),
        (
            "queues.preemption",
            {"reclaim": "Never", "borrowWithinCohort": "LowerPriority"},
            "trainstack:queues.preemption.borrowWithinCohort",
            "reclaim other than 'Never'",
        ),
        (f"{JOB}.priority", "urgent", f"trainstack:{JOB}.priority", "no such priority"),
        (f"{JOB}.queue", "research", f"trainstack:{JOB}.queue", "no such queue"),
        # A job on a queue without quota for its pool.
        (f"{JOB}.queue", "large", f"trainstack:{JOB}.queue", "has no quota in pool 'small'"),
    ],
)
def test_bad_queue_config_is_refused_naming_the_key(dev, path, value, key, allowed):
    assert_rejected_naming_the_key(dev, path, value, key, allowed)


def test_a_job_bigger_than_its_teams_share_is_refused_when_the_team_may_not_borrow(dev):
    dev["queues"] = {"teams": {"research": {"pools": {"small": 2}, "borrow": False}}}
    dev["trainingJobs"]["llama-1b"]["queue"] = "research"
    with pytest.raises(ConfigError) as err:
        config.parse(dev, "us-west-2")
    assert err.value.issues == [
        f"trainstack:{JOB}.queue = 'research': the job needs 4 GPUs of pool 'small' at its most "
        "nodes, but queue 'research' can hold at most 2 (borrow: false); Kueue would never "
        "admit it"
    ]
    dev["queues"]["teams"]["research"]["borrow"] = True  # it may borrow the pool's other 2
    assert config.parse(dev, "us-west-2").queue_plan().most_gpus("research", "small") == 4


def test_quota_is_needed_for_an_elastic_jobs_most_nodes_not_its_fewest(dev):
    # Kueue reserves quota for every Worker a PyTorchJob declares, and the stack declares
    # maxNodes of them (training_job.py), so the check counts maxNodes.
    job = dev["trainingJobs"]["llama-1b"]
    del job["nodes"]
    job.update({"minNodes": 2, "maxNodes": 4, "queue": "research"})
    job["args"] = {"global_batch_size": 48}  # divides at 2, 3 and 4 nodes
    dev["queues"] = {"teams": {"research": {"pools": {"small": 2}, "borrow": False}}}
    with pytest.raises(ConfigError) as err:
        config.parse(dev, "us-west-2")
    assert "needs 4 GPUs of pool 'small' at its most nodes" in err.value.issues[0]
    job["maxNodes"] = 2
    config.parse(dev, "us-west-2")


def test_gpus_held_outside_the_queues_can_leave_a_job_without_quota(dev):
    dev.update(running_server("small", gpus=1, replicas=1))
    with pytest.raises(ConfigError) as err:
        config.parse(dev, "us-west-2")
    (issue,) = err.value.issues
    assert issue.startswith(f"trainstack:{JOB}.queue = 'small': the job needs 4 GPUs")
    assert issue.endswith(
        "at most 3 with what it may borrow, 1 held by running servers; Kueue would never admit it"
    )


def test_priorities_are_named_by_jobs_and_the_default_applies_to_the_rest(dev):
    cfg = parsed(
        dev,
        queues__priorities={"release": {"value": 1000}, "batch": {"value": 10}},
        queues__defaultPriority="batch",
    )
    assert cfg.queues.default_priority == "batch" and cfg.queues.priorities["release"].value == 1000
    with pytest.raises(ConfigError) as err:
        parsed(dev, queues__priorities={"release": {"value": 2**31}})
    assert err.value.issues[0].startswith("trainstack:queues.priorities.release.value")


def test_queue_keys_need_kueue(dev):
    dev["addons"] = {"kueue": {"enabled": False}}
    dev["queues"] = {"priorities": {"release": {"value": 1}}}
    dev["trainingJobs"]["llama-1b"]["priority"] = "release"
    with pytest.raises(ConfigError) as err:
        config.parse(dev, "us-west-2")
    assert err.value.issues == [
        "trainstack:queues.priorities: needs addons.kueue (and a job operator for it to "
        "queue), which is disabled; enable it or remove the key",
        f"trainstack:{JOB}.priority: needs addons.kueue, which is disabled",
    ]
