"""The checkpoint budget (trainer/checkpoint_budget.py) of every preset on the volumes of both
example stacks, the 8B job of the efa stack as it is declared, and what the budget puts into
the rendered job: the trainer's volume throughput, the pod's grace and torchrun's shutdown
timeout."""

from __future__ import annotations

import copy

import pytest
import yaml
from job_support import IMAGE, pod_of, render_job
from support import ROOT

from components import config
from components.config.volume_throughput import volume_throughput_mbps
from components.training_job import JobTarget, render
from trainer import checkpoint_budget
from trainer import config as trainer_config

UPLOAD = "s3://ts-artifacts/checkpoints/job"
TIMEOUT = 600  # parallel.timeout_s's default


def stack_data(stack_file: str) -> dict:
    raw = yaml.safe_load((ROOT / stack_file).read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}


def volumes(stack_file: str) -> dict[str, config.VolumeConfig]:
    return config.parse(stack_data(stack_file)).volumes


# What each preset's checkpoint does on each example stack's volume at the default timeout:
# the volume's MB/s, and which presets the budget refuses there.
EXPECTED = {
    # EFS (Elastic throughput): 1 GiBps written.
    "Pulumi.dev.yaml": (1073.7, set()),
    # FSx for Lustre PERSISTENT_2, 1200 GiB at 125 MB/s per TiB: 146.5 MB/s, so the 8B model's
    # 96 GB take 658 s to write, above half of 600 s.
    "Pulumi.efa.yaml": (146.5, {"llama3-8b"}),
}


@pytest.mark.parametrize("preset", list(trainer_config.PRESETS))
@pytest.mark.parametrize("stack_file", list(EXPECTED))
def test_every_preset_on_every_example_volume(stack_file, preset):
    mbps, refused = EXPECTED[stack_file]
    for name, volume in volumes(stack_file).items():
        assert volume_throughput_mbps(volume) == mbps, name
        cfg = trainer_config.build(
            preset, {"checkpoint.volume_throughput_mbps": mbps, "checkpoint.upload": UPLOAD}
        )
        budget = cfg.checkpoint_budget(1)
        assert budget.bytes == 12 * checkpoint_budget.param_count(cfg.model.model_dump())
        assert budget.timeout_s == TIMEOUT
        assert budget.save_s == pytest.approx(budget.bytes / (mbps * 1e6))
        # The grace covers a SIGTERM save and its upload, with the margin, never below 120 s.
        assert budget.grace_s >= max(120, budget.save_s + budget.upload_s + 60)
        problems = budget.problems()
        if preset in refused:
            [line] = problems
            assert line.startswith(f"checkpoint.volume_throughput_mbps={mbps:g}: writing the ")
            assert "parallel.timeout_s=600" in line
            with pytest.raises(trainer_config.ConfigError) as e:
                cfg.check_world(1)  # what the trainer runs at start
            assert e.value.issues == problems
        else:
            assert problems == [] and budget.save_s <= TIMEOUT / 2
            cfg.check_world(1)


def test_the_8b_model_checkpoint_is_96_gb_as_the_issue_says():
    cfg = trainer_config.build("llama3-8b")
    assert checkpoint_budget.param_count(cfg.model.model_dump()) == 8_030_261_248  # Llama 3 8B
    assert round(checkpoint_budget.checkpoint_bytes(cfg.model.model_dump()) / 1e9) == 96


def efa_8b(args: dict | None = None):
    data = stack_data("Pulumi.efa.yaml")
    if args is not None:
        data = copy.deepcopy(data)
        data["trainingJobs"]["llama-8b"]["args"] = args
    return config.parse(data)


def test_the_efa_stacks_8b_job_fits_its_budget_as_declared():
    cfg = efa_8b()
    job = cfg.training_jobs["llama-8b"]
    assert job.args["parallel.timeout_s"] == 1800
    volume = cfg.volumes[job.checkpoint_volume]
    for nodes in range(job.node_range[0], job.node_range[1] + 1):
        built = trainer_config.build(
            job.preset,
            {**job.args, "checkpoint.volume_throughput_mbps": volume_throughput_mbps(volume)},
        )
        assert built.checkpoint_budget(nodes * job.gpus_per_node).problems() == []


def test_without_its_longer_timeout_the_efa_8b_job_is_refused_at_preview_with_the_reason():
    declared = stack_data("Pulumi.efa.yaml")["trainingJobs"]["llama-8b"]["args"]
    args = {k: v for k, v in declared.items() if k != "parallel.timeout_s"}
    with pytest.raises(config.ConfigError) as e:
        efa_8b(args)
    [line] = [i for i in e.value.issues if "llama-8b" in i]
    assert "trainingJobs.llama-8b.args" in line
    assert (
        "checkpoint.volume_throughput_mbps=146.5: writing the 96.4 GB checkpoint takes 658 s"
        in (line)
    )
    assert "raise parallel.timeout_s to 1316 or more" in line


def test_the_rendered_8b_job_carries_the_volume_throughput_and_a_grace_from_the_budget():
    cfg = efa_8b()
    manifest = render_job(cfg, "llama-8b", bucket="ts-artifacts")
    pod = pod_of(manifest, "Worker")
    cmd = pod["containers"][0]["command"]
    args = cmd[cmd.index("trainer") + 1 :]
    assert args[args.index("--checkpoint.volume-throughput-mbps") + 1] == "146.5"
    parsed = trainer_config.from_args(args)
    budget = parsed.checkpoint_budget(8)  # the smallest size: each rank moves the most to S3
    assert budget.uploads and budget.problems() == []
    # An asynchronous save still in flight (658 s), the SIGTERM save (658 s), its upload (658 s,
    # the volume is the bottleneck) and 60 s.
    assert budget.async_save
    assert pod["terminationGracePeriodSeconds"] == budget.grace_s == 2034
    assert f"--shutdown-timeout={2034 - 15}" in cmd  # torchrun's wait before SIGKILL


def test_a_job_the_budget_cannot_size_keeps_the_floor_grace():
    data = stack_data("Pulumi.dev.yaml")
    cfg = config.parse(data)
    job = cfg.training_jobs["llama-1b"]
    volume = config.VolumeConfig(type="efs", size="100Gi", existing_claim="mine")
    assert volume_throughput_mbps(volume) is None  # a claim of the user's: unknown throughput
    target = JobTarget("training", IMAGE, cfg.pools()[job.node_pool], "v", volume)
    pod = pod_of(render("llama-1b", job, target))
    assert pod["terminationGracePeriodSeconds"] == 120
    assert "--checkpoint.volume-throughput-mbps" not in pod["containers"][0]["command"]
