"""One typed config tree for a training run: presets, command-line overrides, validation.

Every leaf is a command-line option named by its path (`--model.dim 512`, `--checkpoint.dir /ckpt`);
the root fields also have a short form (`--max-steps 50`). Problems are reported together, each
naming the option, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import copy
import os
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """Every problem of one training config, one line each."""

    def __init__(self, issues: list[str]):
        self.issues = issues
        super().__init__("invalid training config:\n" + "\n".join(f"  - {i}" for i in issues))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RopeScaling(_Section):
    """Llama 3.1+ long-context frequency scaling of RoPE."""

    factor: float = Field(gt=0)
    low_freq_factor: float = Field(gt=0)
    high_freq_factor: float = Field(gt=0)
    original_max_seq_len: int = Field(gt=0)


class ModelConfig(_Section):
    dim: int = Field(gt=0)
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    ffn_hidden: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    max_seq_len: int = Field(gt=0)
    rope_theta: float = Field(default=10000.0, gt=0)
    rope_scaling: RopeScaling | None = None
    norm_eps: float = Field(default=1e-5, gt=0)
    tie_embeddings: bool = False
    init_std: float = Field(default=0.02, gt=0)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def problems(self) -> list[str]:
        out = []
        if self.dim % self.n_heads:
            out.append(f"model.dim={self.dim}: must be divisible by model.n_heads={self.n_heads}")
        elif self.head_dim % 2:
            out.append(f"model.dim/model.n_heads={self.head_dim}: RoPE needs an even head size")
        if self.n_heads % self.n_kv_heads:
            out.append(f"model.n_kv_heads={self.n_kv_heads}: must divide model.n_heads="
                       f"{self.n_heads} (grouped-query attention)")
        return out


class DataConfig(_Section):
    # synthetic: generated text, no download; local: text/JSONL files; hf: `datasets` streaming.
    source: Literal["synthetic", "local", "hf"] = "synthetic"
    path: str | None = None  # local file or directory, or the Hugging Face dataset name
    name: str | None = None  # Hugging Face dataset config
    split: str = "train"
    val_split: str | None = None  # Hugging Face split for validation; else documents are held out
    text_field: str = "text"
    tokenizer: str | None = None  # a tokenizer.json; default: bytes
    # Every val_holdout-th document (by content hash) is kept for validation only.
    val_holdout: int = Field(default=100, ge=2)
    # Streams the documents are dealt into; each rank owns whole streams. 0: one per sequence of
    # the global batch, so any world size dividing the batch can resume a checkpoint.
    num_shards: int = Field(default=0, ge=0)


class OptimConfig(_Section):
    lr: float = Field(default=3e-4, gt=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    warmup_steps: int = Field(default=10, ge=0)
    weight_decay: float = Field(default=0.1, ge=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    grad_clip: float = Field(default=1.0, ge=0)  # 0 disables clipping


class CheckpointConfig(_Section):
    dir: str = "checkpoints"  # in a PyTorchJob: the mounted shared volume
    interval: int = Field(default=100, ge=0)  # steps; 0: only at the end and on SIGTERM
    keep: int = Field(default=3, ge=1)
    resume: bool = True
    export: str | None = None  # consolidated weights written here at the end (one file)


class ParallelConfig(_Section):
    # auto: bf16 parameters with fp32 gradient reduction on CUDA, fp32 on CPU.
    mixed_precision: Literal["auto", "bf16", "fp32"] = "auto"
    activation_checkpointing: bool = False
    compile: bool = False  # torch.compile each transformer block
    timeout_s: int = Field(default=600, gt=0)  # collective timeout


class MetricsConfig(_Section):
    log_interval: int = Field(default=10, gt=0)
    val_interval: int = Field(default=0, ge=0)  # steps; 0: only at the end
    val_sequences: int = Field(default=16, gt=0)
    out_dir: str = "runs/latest"  # metrics.jsonl, loss.png, summary.json
    peak_tflops: float | None = Field(default=None, gt=0)  # per device; overrides the table
    progress: Literal["auto", "bar", "lines"] = "auto"


class DebugConfig(_Section):
    """Faults injected on purpose, for the tests of what the trainer does about them."""

    nan_at_step: int = Field(default=0, ge=0)
    kill_at_step: int = Field(default=0, ge=0)  # SIGKILL self at this step of a fresh start
    kill_rank: int = Field(default=0, ge=0)


class TrainConfig(_Section):
    preset: str = "tiny"
    seed: int = 0
    max_steps: int = Field(default=100, gt=0)
    # End this run after this step with a checkpoint (a time-boxed slice of a longer run: the LR
    # schedule still spans max_steps). 0: run to max_steps.
    stop_at: int = Field(default=0, ge=0)
    global_batch_size: int = Field(default=8, gt=0)  # sequences per optimizer step, all ranks
    micro_batch_size: int = Field(default=4, gt=0)  # sequences per forward, per rank
    seq_len: int = Field(default=128, gt=0)
    model: ModelConfig
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    parallel: ParallelConfig = ParallelConfig()
    metrics: MetricsConfig = MetricsConfig()
    debug: DebugConfig = DebugConfig()

    @model_validator(mode="after")
    def _consistent(self) -> "TrainConfig":
        issues = self.model.problems()
        if self.seq_len > self.model.max_seq_len:
            issues.append(f"seq_len={self.seq_len}: above the model's maximum "
                          f"model.max_seq_len={self.model.max_seq_len}")
        if self.global_batch_size % self.micro_batch_size:
            issues.append(f"global_batch_size={self.global_batch_size}: must be a multiple of "
                          f"micro_batch_size={self.micro_batch_size}")
        if self.stop_at > self.max_steps:
            issues.append(f"stop_at={self.stop_at}: after max_steps={self.max_steps}")
        if self.data.num_shards and self.global_batch_size % self.data.num_shards:
            issues.append(f"data.num_shards={self.data.num_shards}: must divide "
                          f"global_batch_size={self.global_batch_size}")
        if self.data.source in ("local", "hf") and not self.data.path:
            issues.append(f"data.path: required with data.source={self.data.source}")
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
            issues.append(f"global_batch_size={self.global_batch_size}: must be a multiple of "
                          f"micro_batch_size x ranks = {self.micro_batch_size} x {world_size}")
        if self.num_shards % world_size:
            issues.append(f"data.num_shards={self.num_shards}: must be a multiple of the "
                          f"{world_size} ranks, so each rank owns whole data shards")
        if self.debug.kill_rank >= world_size and self.debug.kill_at_step:
            issues.append(f"debug.kill_rank={self.debug.kill_rank}: only {world_size} ranks")
        if issues:
            raise ConfigError(issues)

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


_LLAMA3_ROPE = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_seq_len": 8192}

PRESETS: dict[str, dict[str, Any]] = {
    # CPU tests and the README's demo: trains in seconds on bytes.
    "tiny": {
        "model": {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "ffn_hidden": 192,
                  "vocab_size": 384, "max_seq_len": 256, "tie_embeddings": True},
        "seq_len": 64, "global_batch_size": 8, "micro_batch_size": 4,
        "optim": {"lr": 3e-3, "warmup_steps": 5},
        "metrics": {"log_interval": 5},
    },
    # About 50M parameters with a 32k vocabulary.
    "small": {
        "model": {"dim": 512, "n_layers": 6, "n_heads": 8, "n_kv_heads": 4, "ffn_hidden": 1536,
                  "vocab_size": 32768, "max_seq_len": 2048},
        "seq_len": 1024, "global_batch_size": 32, "micro_batch_size": 8,
        "optim": {"lr": 1e-3, "warmup_steps": 100},
    },
    # Llama 3.2 1B's shape.
    "llama3-1b": {
        "model": {"dim": 2048, "n_layers": 16, "n_heads": 32, "n_kv_heads": 8,
                  "ffn_hidden": 8192, "vocab_size": 128256, "max_seq_len": 131072,
                  "rope_theta": 500000.0, "rope_scaling": _LLAMA3_ROPE, "tie_embeddings": True},
        "seq_len": 4096, "global_batch_size": 64, "micro_batch_size": 2,
        "optim": {"lr": 3e-4, "warmup_steps": 200},
        "parallel": {"activation_checkpointing": True},
    },
    # Llama 3 8B's shape.
    "llama3-8b": {
        "model": {"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8,
                  "ffn_hidden": 14336, "vocab_size": 128256, "max_seq_len": 8192,
                  "rope_theta": 500000.0},
        "seq_len": 8192, "global_batch_size": 64, "micro_batch_size": 1,
        "optim": {"lr": 3e-4, "warmup_steps": 200},
        "parallel": {"activation_checkpointing": True},
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


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, annotation) of every leaf field, recursing into sections."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        options = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) else [ann]
        section = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)),
                       None)
        if section is not None:
            out.extend(_leaf_paths(section, f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", ann))
    return out


def _parse_value(text: str) -> Any:
    """Strings go to pydantic as given (it converts "50", "3e-4", "true"); "none" clears a field."""
    return None if text.lower() in ("none", "null") else text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="FSDP2 Llama trainer. Runs alone or under torchrun; resumes from the newest "
                    "complete checkpoint in --checkpoint.dir.",
        allow_abbrev=False)
    p.add_argument("--preset", default="tiny", choices=list(PRESETS))
    for path, ann in _leaf_paths(TrainConfig):
        if path == "preset":
            continue
        flags = [f"--{path.replace('_', '-')}"]
        if "_" in path:
            flags.append(f"--{path}")
        p.add_argument(*flags, dest=path, default=argparse.SUPPRESS, type=_parse_value,
                       metavar=_metavar(ann))
    return p


def _metavar(ann: Any) -> str:
    args = get_args(ann)
    if get_origin(ann) is Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    names = [getattr(a, "__name__", str(a)) for a in (args or (ann,)) if a is not type(None)]
    return "|".join(n.upper() for n in names)


def from_args(argv: list[str] | None = None) -> TrainConfig:
    ns = vars(parser().parse_args(argv))
    preset = ns.pop("preset")
    return build(preset, ns)
