"""The root of a training config: `TrainConfig` (its sections and the checks across them), the
named presets and `build()`, which turns a preset plus overrides into a validated config or one
`ConfigError` naming every problem.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

from pydantic import Field, ValidationError, model_validator

from . import checkpoint_budget
from .config_sections import (
    CheckpointConfig,
    ConfigError,
    DataConfig,
    DebugConfig,
    MetricsConfig,
    ModelConfig,
    OptimConfig,
    ParallelConfig,
    Section,
)


class TrainConfig(Section):
    preset: str = Field(
        default="tiny",
        description="the named model shape and training settings the other options override",
    )
    seed: int = Field(
        default=0,
        description="seeds the weight init (the same on any number "
        "of ranks) and each rank's torch RNG (seed + rank)",
    )
    max_steps: int = Field(
        default=100,
        gt=0,
        description="optimizer steps of the whole run; the learning-rate schedule spans them",
    )
    stop_at: int = Field(
        default=0,
        ge=0,
        description="end this run after this step with a "
        "checkpoint: a time-boxed slice of a longer run (the schedule still "
        "spans max_steps); 0: run to max_steps",
    )
    global_batch_size: int = Field(
        default=8,
        gt=0,
        description="sequences per optimizer "
        "step, over all ranks; a multiple of micro_batch_size x "
        "ranks (the rest is gradient accumulation)",
    )
    micro_batch_size: int = Field(
        default=4, gt=0, description="sequences per forward and backward pass, per rank"
    )
    seq_len: int = Field(
        default=128, gt=0, description="tokens per training sequence; at most model.max_seq_len"
    )
    model: ModelConfig = Field(description="the Llama-style model's shape")
    data: DataConfig = Field(
        default=DataConfig(),
        description="where the training text comes from and how it is tokenized and split",
    )
    optim: OptimConfig = Field(
        default=OptimConfig(),
        description="AdamW and the learning-rate schedule: linear warm-up, then cosine decay",
    )
    checkpoint: CheckpointConfig = Field(
        default=CheckpointConfig(),
        description="sharded checkpoints, resume and the final weights export",
    )
    parallel: ParallelConfig = Field(
        default=ParallelConfig(), description="FSDP2 precision, memory and compilation, collectives"
    )
    metrics: MetricsConfig = Field(
        default=MetricsConfig(), description="progress lines, validation and the run's records"
    )
    debug: DebugConfig = Field(
        default=DebugConfig(),
        description="faults injected on purpose, for the tests of what the trainer does about them",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        issues = self.model.problems()
        if self.seq_len > self.model.max_seq_len:
            issues.append(
                f"seq_len={self.seq_len}: above the model's maximum "
                f"model.max_seq_len={self.model.max_seq_len}"
            )
        if self.global_batch_size % self.micro_batch_size:
            issues.append(
                f"global_batch_size={self.global_batch_size}: must be a multiple of "
                f"micro_batch_size={self.micro_batch_size}"
            )
        if self.stop_at > self.max_steps:
            issues.append(f"stop_at={self.stop_at}: after max_steps={self.max_steps}")
        if self.data.num_shards and self.global_batch_size % self.data.num_shards:
            issues.append(
                f"data.num_shards={self.data.num_shards}: must divide "
                f"global_batch_size={self.global_batch_size}"
            )
        if self.data.source in ("local", "hf") and not self.data.path:
            issues.append(f"data.path: required with data.source={self.data.source}")
        if self.data.format != "text" and self.data.source == "synthetic":
            issues.append(
                f"data.format={self.data.format}: needs data.source=local or hf (the synthetic "
                "source is plain text)"
            )
        if issues:
            raise ValueError("; ".join(issues))
        return self

    @property
    def num_shards(self) -> int:
        return self.data.num_shards or self.global_batch_size

    def check_world(self, world_size: int) -> None:
        """What depends on the number of ranks, known only at start."""
        issues = []
        per_step = self.micro_batch_size * world_size
        if self.global_batch_size % per_step:
            issues.append(
                f"global_batch_size={self.global_batch_size}: must be a multiple of "
                f"micro_batch_size x ranks = {self.micro_batch_size} x {world_size}"
            )
        if self.num_shards % world_size:
            issues.append(
                f"data.num_shards={self.num_shards}: must be a multiple of the "
                f"{world_size} ranks, so each rank owns whole data shards"
            )
        if self.metrics.val_interval and self.metrics.val_sequences % world_size:
            # Uneven, ranks would run different numbers of forwards, whose FSDP collectives
            # then wait for each other forever.
            issues.append(
                f"metrics.val_sequences={self.metrics.val_sequences}: must be a multiple of the "
                f"{world_size} ranks, so each rank evaluates as many sequences"
            )
        if self.debug.kill_rank >= world_size and self.debug.kill_at_step:
            issues.append(f"debug.kill_rank={self.debug.kill_rank}: only {world_size} ranks")
        issues += self.checkpoint_budget(world_size).problems()
        if issues:
            raise ConfigError(issues)

    def checkpoint_budget(self, world_size: int) -> checkpoint_budget.Budget:
        """The checkpoint I/O of this run (no volume throughput given: nothing to refuse)."""
        return checkpoint_budget.Budget(
            checkpoint_budget.checkpoint_bytes(self.model.model_dump()),
            self.checkpoint.volume_throughput_mbps or math.inf,
            self.parallel.timeout_s,
            ranks=world_size,
            uploads=bool(self.checkpoint.upload and self.checkpoint.upload_every),
            async_save=self.checkpoint.async_save,
        )

    def grad_accum_steps(self, world_size: int) -> int:
        return self.global_batch_size // (self.micro_batch_size * world_size)


def check_writable(path: str, key: str = "checkpoint.dir") -> None:
    """Fail at start, not at the first save an hour in."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ConfigError([f"{key}={path}: not writable ({e.strerror or e})"]) from None


_LLAMA3_ROPE = {
    "factor": 32.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_seq_len": 8192,
}

PRESETS: dict[str, dict[str, Any]] = {
    # CPU tests and the README's demo: trains in seconds on bytes.
    "tiny": {
        "model": {
            "dim": 64,
            "n_layers": 2,
            "n_heads": 4,
            "n_kv_heads": 2,
            "ffn_hidden": 192,
            "vocab_size": 384,
            "max_seq_len": 256,
            "tie_embeddings": True,
        },
        "seq_len": 64,
        "global_batch_size": 8,
        "micro_batch_size": 4,
        "optim": {"lr": 3e-3, "warmup_steps": 5},
        "metrics": {"log_interval": 5},
    },
    # About 50M parameters with a 32k vocabulary.
    "small": {
        "model": {
            "dim": 512,
            "n_layers": 6,
            "n_heads": 8,
            "n_kv_heads": 4,
            "ffn_hidden": 1536,
            "vocab_size": 32768,
            "max_seq_len": 2048,
        },
        "seq_len": 1024,
        "global_batch_size": 32,
        "micro_batch_size": 8,
        "optim": {"lr": 1e-3, "warmup_steps": 100},
    },
    # Llama 3.2 1B's shape.
    "llama3-1b": {
        "model": {
            "dim": 2048,
            "n_layers": 16,
            "n_heads": 32,
            "n_kv_heads": 8,
            "ffn_hidden": 8192,
            "vocab_size": 128256,
            "max_seq_len": 131072,
            "rope_theta": 500000.0,
            "rope_scaling": _LLAMA3_ROPE,
            "tie_embeddings": True,
        },
        "seq_len": 4096,
        "global_batch_size": 64,
        "micro_batch_size": 2,
        "optim": {"lr": 3e-4, "warmup_steps": 200},
    },
    # Llama 3 8B's shape.
    "llama3-8b": {
        "model": {
            "dim": 4096,
            "n_layers": 32,
            "n_heads": 32,
            "n_kv_heads": 8,
            "ffn_hidden": 14336,
            "vocab_size": 128256,
            "max_seq_len": 8192,
            "rope_theta": 500000.0,
        },
        "seq_len": 8192,
        "global_batch_size": 64,
        "micro_batch_size": 1,
        "optim": {"lr": 3e-4, "warmup_steps": 200},
    },
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_path(tree: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    old = tree.get(leaf)
    tree[leaf] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value


def _format_errors(err: ValidationError) -> list[str]:
    issues = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if loc:
            shown = "" if e["type"] == "missing" else f"={e.get('input')!r}"
            issues.append(f"{loc}{shown}: {msg}")
        else:
            issues.extend(m.strip() for m in msg.split(";"))
    return issues


def build(preset: str = "tiny", overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Preset + overrides (dotted paths or nested dicts, merged into the preset) -> validated
    config, or ConfigError naming every problem."""
    if preset not in PRESETS:
        raise ConfigError([f"preset={preset!r}: unknown; choose one of {', '.join(PRESETS)}"])
    tree = copy.deepcopy(PRESETS[preset])
    tree["preset"] = preset
    for path, value in (overrides or {}).items():
        _set_path(tree, path, value)
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_errors(e)) from None
