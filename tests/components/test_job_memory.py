"""A job's GPU memory as the plan prints it (components/job_memory.py): the GPU its pool launches,
its fewest ranks, the mode it names or the model picks, and docs/trainer.md's tables, which must
be the model's own output."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from support import stack_data

from components import catalog, config
from components.job_memory import (
    catalog_gpus,
    docs_tables,
    job_gpu,
    job_memory,
)
from trainer import memory_model as mm
from trainer.train_config import PRESETS
from trainstack.offline import plan_report

ROOT = Path(__file__).resolve().parents[2]
LLAMA3_8B = mm.Shape.of(PRESETS["llama3-8b"]["model"])
LLAMA3_1B = mm.Shape.of(PRESETS["llama3-1b"]["model"])


def efa_config(args: dict | None = None, **job_changes) -> config.PlatformConfig:
    """The efa stack with its llama-8b job changed (`args` added to the job's own)."""
    data, region = stack_data("efa")
    job = copy.deepcopy(data)["trainingJobs"]["llama-8b"]
    job.update(job_changes)
    job["args"] = {**job.get("args", {}), **(args or {})}
    data = {**data, "trainingJobs": {**data["trainingJobs"], "llama-8b": job}}
    return config.parse(data, region)


def efa_llama(args: dict | None = None, **job_changes):
    cfg = efa_config(args, **job_changes)
    job = cfg.training_jobs["llama-8b"]
    return job_memory(job, cfg.pools()[job.node_pool])


def test_the_efa_stacks_8b_job_is_judged_on_its_a10g_at_its_fewest_ranks():
    m = efa_llama()
    # Pulumi.efa.yaml: pool efa (g5.12/24/48xlarge, all A10G), minNodes 3 x 4 GPUs.
    assert (m.gpu.gpu_model, m.gpu.gpu_memory_gib, m.ranks, m.seq_len) == ("A10G", 22, 12, 8192)
    # The preset leaves the mode to the model (auto), which picks full; one sequence.
    assert (m.mode, m.named_mode, m.micro_batch) == ("full", False, 1)
    assert m.fits
    # At 2 nodes it would not fit in any mode: why the stack starts it at 3.
    m = efa_llama(minNodes=2)
    assert m.ranks == 8 and not m.fits and m.best is None
    assert "fits from 11 ranks (3 nodes of 4 GPUs)" in m.refusal


def test_selective_does_not_fit_the_efa_stacks_a10g_at_any_of_its_sizes():
    """The issue hoped selective would be the 8B's default here. It cannot: one 8k sequence's
    selective activations alone are about 25 GiB, more than an A10G holds. From 3 nodes the
    model picks full, the mode the preset names."""
    for nodes in (3, 4):
        m = efa_llama(minNodes=nodes)
        assert m.fits and m.best.mode == "full", nodes
        assert m.breakdown.activations / mm.GIB < 3
    assert mm.estimate(LLAMA3_8B, 16, 8192, "selective").activations / mm.GIB > 22


def test_a_job_arg_naming_a_mode_is_judged_in_that_mode():
    # false: no checkpointing (the option's three modes replace the boolean on merging
    # issue 24's trainer side; job_memory reads either).
    m = efa_llama(minNodes=4, args={"parallel.activation_checkpointing": False})
    assert (m.mode, m.named_mode, m.fits) == ("none", True, False)
    assert m.best.mode == "full"  # what the model would have picked
    line = next(
        x
        for x in plan_report._job_lines(
            efa_config(minNodes=4, args={"parallel.activation_checkpointing": False})
        )
        if "GiB per" in x
    )
    assert "none activation checkpointing (as configured)" in line
    assert re.search(r"DOES NOT FIT; full would \(\d+\.\d GiB, micro-batch 1\)", line)
    # "auto" leaves the mode to the model, as the trainer does at start.
    job = config.TrainingJobConfig(
        node_pool="efa",
        nodes=4,
        gpus_per_node=4,
        preset="llama3-8b",
        args={"parallel.activation_checkpointing": "auto"},
    )
    auto = job_memory(job, efa_config().pools()["efa"])
    assert (auto.named_mode, auto.mode, auto.ranks) == (False, "full", 16)
    # The boolean the option was before three modes: true is full.
    named = efa_config(args={"parallel.activation_checkpointing": True}).training_jobs["llama-8b"]
    assert job_memory(named, efa_config().pools()["efa"]).mode == "full"


def test_pool_with_several_gpus_is_judged_on_the_smallest():
    data, region = stack_data("dev")
    cfg = config.parse(data, region)
    job = cfg.training_jobs["llama-1b"]
    pool = cfg.pools()[job.node_pool]  # families g5 and g4dn
    assert {i.gpu_model for i in pool.instances} == {"A10G", "T4"}
    assert job_gpu(job, pool).gpu_model == "T4"
    m = job_memory(job, pool)
    assert m.fits and m.gpu.gpu_model == "T4"
    # A T4 has no bf16: fp32 compute makes the job larger than on the pool's A10G.
    a10g = mm.estimate(LLAMA3_1B, m.ranks, m.micro_batch * m.seq_len, m.mode)
    assert m.breakdown.total > a10g.total


def test_plan_prints_each_jobs_gib_next_to_its_gpus_memory():
    lines = plan_report._job_lines(efa_config(minNodes=2))
    line = next(x for x in lines if x.startswith("  llama-8b: ") and "GiB per" in x)
    assert re.search(r"llama-8b: \d+\.\d of 22 GiB per A10G at 8 ranks, full activation", line)
    assert "DOES NOT FIT in any mode" in line
    fits = next(x for x in plan_report._job_lines(efa_config()) if "GiB per" in x)
    assert "of 22 GiB per A10G at 12 ranks" in fits and "DOES NOT FIT" not in fits
    # The foreign Ray job has no estimate.
    assert not any(x.startswith("  verl-grpo: ") and "GiB per" in x for x in lines)


def test_plan_names_a_cheaper_mode_that_fits_where_the_configured_one_is_not_the_cheapest():
    """On 8 H100s the preset's full checkpointing fits, and so does none: the plan says so."""
    data, region = stack_data("efa")
    data = copy.deepcopy(data)
    data["karpenter"]["nodePools"]["efa"]["instanceTypes"] = ["p5.48xlarge"]
    data["trainingJobs"]["llama-8b"]["minNodes"] = 2
    data["trainingJobs"]["llama-8b"]["args"]["parallel.activation_checkpointing"] = "full"
    cfg = config.parse(data, region)
    line = next(x for x in plan_report._job_lines(cfg) if "GiB per" in x)
    assert "of 80 GiB per H100 at 8 ranks, full activation checkpointing (as configured)" in line
    assert re.search(r"; none fits too \(\d+\.\d GiB, micro-batch 1\) and recomputes less$", line)


def test_catalog_gpus_are_every_model_and_memory_the_catalog_offers():
    gpus = catalog_gpus()
    assert set(gpus) == {
        f"{i.gpu_model} {i.gpu_memory_gib}" for i in catalog.GPU_INSTANCES.values()
    }
    assert gpus["T4 16"] == (16, False) and gpus["H100 80"] == (80, True)


def test_docs_memory_tables_are_the_models_output():
    """Regenerate with `python -c "from components.job_memory import docs_tables;
    print(docs_tables())"`."""
    text = (ROOT / "docs" / "trainer.md").read_text()
    assert docs_tables() in text


@pytest.mark.parametrize("preset", ["llama3-1b", "llama3-8b"])
def test_docs_table_cells_agree_with_choose(preset):
    by_gpu = mm.table(PRESETS, catalog_gpus())
    row = next(x for x in by_gpu.splitlines() if x.startswith(f"| {preset} "))
    shape, seq = mm.Shape.of(PRESETS[preset]["model"]), PRESETS[preset]["seq_len"]
    h100 = mm.choose(shape, 80, 8, seq, micro_batch=1)
    assert f"{h100.mode} {h100.breakdown.total / mm.GIB:.1f}" in row
