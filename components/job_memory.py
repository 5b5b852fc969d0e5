"""A training job's GPU memory per rank, as trainer/memory_model.py estimates it for the GPU its
pool launches: what `trainstack plan` prints per job.

Pure: a job's config and its pool's facts in, an estimate out. A job runs at its fewest ranks
first (an elastic job's minNodes), where each rank holds the largest shard, so that size is the
one judged; the GPU is the pool's instance with the least GPU memory the job's pods fit on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer import config as trainer_config
from trainer import memory_model

from . import catalog
from .config import TrainingJobConfig
from .config.pools import PoolFacts

MICRO_BATCH_KEY = "micro_batch_size"


@dataclass(frozen=True)
class JobMemory:
    gpu: catalog.GpuInstance
    ranks: int
    seq_len: int
    mode: str  # the mode judged: the one the config names, else the model's choice
    micro_batch: int
    breakdown: memory_model.Breakdown
    named_mode: bool  # the job's args or its preset name the mode
    best: memory_model.Choice | None  # what the model picks given the named micro-batch
    refusal: str | None  # why no mode fits, when none does

    @property
    def fits(self) -> bool:
        return memory_model.fits(self.breakdown, self.gpu.gpu_memory_gib)


def _named(job: TrainingJobConfig, path: str) -> Any:
    """The value the job's args or its preset give `path` (dotted), None when neither does."""
    if path in job.args:
        return job.args[path]
    tree: Any = trainer_config.PRESETS.get(job.preset or "", {})
    for part in path.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _refusal(e: memory_model.DoesNotFit, gpus_per_node: int) -> str:
    if e.enough_ranks is None:
        return str(e)
    nodes = -(-e.enough_ranks // gpus_per_node)
    return f"{e} ({nodes} nodes of {gpus_per_node} GPUs)"


def job_gpu(job: TrainingJobConfig, pool: PoolFacts) -> catalog.GpuInstance | None:
    fitting = [i for i in pool.instances if i.gpus >= job.gpus_per_node]
    return min(fitting, key=lambda i: i.gpu_memory_gib, default=None)


def job_memory(job: TrainingJobConfig, pool: PoolFacts) -> JobMemory | None:
    """None for a foreign workload, a job without a preset, a config that does not build (its
    own check says why) or a pool without a GPU for it."""
    gpu = job_gpu(job, pool)
    if job.foreign or job.preset is None or gpu is None:
        return None
    try:
        cfg = trainer_config.build(job.preset, job.args)
    except trainer_config.ConfigError:
        return None
    ranks = job.node_range[0] * job.gpus_per_node
    bf16 = {"bf16": True, "fp32": False}.get(cfg.parallel.mixed_precision, gpu.bf16)
    shape = memory_model.Shape.of(cfg.model.model_dump())
    # The trainer's own reading of the option (old true/false included); auto is the model's.
    named = cfg.parallel.activation_checkpointing
    named = None if named == "auto" else named
    micro_batch = cfg.micro_batch_size if _named(job, MICRO_BATCH_KEY) is not None else None
    per_rank = cfg.global_batch_size // ranks if cfg.global_batch_size % ranks == 0 else None
    try:
        best = memory_model.choose(
            shape,
            gpu.gpu_memory_gib,
            ranks,
            cfg.seq_len,
            sequences_per_rank=per_rank,
            micro_batch=micro_batch,
            bf16=bf16,
        )
        refusal = None
    except memory_model.DoesNotFit as e:
        best, refusal = None, _refusal(e, job.gpus_per_node)
    mode = named or (best.mode if best else memory_model.MODES[-1])
    mb = micro_batch or (best.micro_batch if best and best.mode == mode else 1)
    return JobMemory(
        gpu=gpu,
        ranks=ranks,
        seq_len=cfg.seq_len,
        mode=mode,
        micro_batch=mb,
        breakdown=memory_model.estimate(shape, ranks, mb * cfg.seq_len, mode, bf16=bf16),
        named_mode=named is not None,
        best=best,
        refusal=refusal,
    )


def catalog_gpus() -> dict[str, tuple[float, bool]]:
    """Every GPU the catalog offers, by '<model> <GiB>' (the A100 comes in 40 and 80): its memory
    and whether it computes in bf16, smallest memory first."""
    found = {(i.gpu_memory_gib, i.gpu_model): i.bf16 for i in catalog.GPU_INSTANCES.values()}
    return {f"{model} {gib}": (gib, bf16) for (gib, model), bf16 in sorted(found.items())}


def docs_tables(ranks: int = 8) -> str:
    """docs/trainer.md's memory tables (a test keeps the page equal to them): GiB per mode, and
    the mode each preset gets on each GPU."""
    presets = trainer_config.PRESETS
    return (
        memory_model.mode_table(presets, ranks)
        + "\n\n"
        + memory_model.table(presets, catalog_gpus(), ranks)
    )
