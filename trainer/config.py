"""One typed config tree for a training run: presets, command-line overrides, validation.

Every leaf is a command-line option named by its path (`--model.dim 512`, `--checkpoint.dir /ckpt`);
the root fields also have a short form (`--max-steps 50`). Each field's description is its
`--help` text, shown with the default every preset gives it. Problems are reported together, each
naming the option, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import copy
import os
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo


class ConfigError(ValueError):
    """Every problem of one training config, one line each."""

    def __init__(self, issues: list[str]):
        self.issues = issues
        super().__init__("invalid training config:\n" + "\n".join(f"  - {i}" for i in issues))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RopeScaling(_Section):
    """Llama 3.1+ long-context frequency scaling of RoPE."""

    factor: float = Field(
        gt=0,
        description="long RoPE wavelengths (above original_max_seq_len "
        "/ low_freq_factor) are slowed by this factor",
    )
    low_freq_factor: float = Field(
        gt=0, description="wavelengths above original_max_seq_len / this are fully scaled by factor"
    )
    high_freq_factor: float = Field(
        gt=0,
        description="wavelengths below original_max_seq_len / "
        "this are left unscaled; a smooth ramp lies in between",
    )
    original_max_seq_len: int = Field(
        gt=0,
        description="the context length (tokens) the frequencies were trained for before scaling",
    )


class ModelConfig(_Section):
    dim: int = Field(
        gt=0,
        description="model width: the size of the token embedding and the "
        "residual stream; must be divisible by n_heads",
    )
    n_layers: int = Field(gt=0, description="number of transformer blocks")
    n_heads: int = Field(
        gt=0,
        description="attention (query) heads per block; dim / n_heads "
        "is the head size, which must be even for RoPE",
    )
    n_kv_heads: int = Field(
        gt=0,
        description="key/value heads per block (grouped-query "
        "attention); must divide n_heads; equal to n_heads: plain "
        "multi-head attention",
    )
    ffn_hidden: int = Field(
        gt=0, description="hidden width of each block's SwiGLU feed-forward layer"
    )
    vocab_size: int = Field(
        gt=0,
        description="rows of the token embedding and the output "
        "layer; at least the tokenizer's vocabulary (258 for the byte "
        "tokenizer)",
    )
    max_seq_len: int = Field(
        gt=0, description="the model's context length: the largest seq_len allowed"
    )
    rope_theta: float = Field(default=10000.0, gt=0, description="RoPE base frequency")
    rope_scaling: RopeScaling | None = Field(
        default=None,
        description="Llama 3.1 RoPE frequency scaling; none: unscaled RoPE. "
        "Enabling it on a preset without it needs all four of its options",
    )
    norm_eps: float = Field(default=1e-5, gt=0, description="epsilon of every RMSNorm")
    tie_embeddings: bool = Field(
        default=False, description="the output layer shares the token embedding's weights"
    )
    init_std: float = Field(
        default=0.02,
        gt=0,
        description="standard deviation of the "
        "truncated-normal (at 3 std) weight init; the attention and "
        "feed-forward output projections use init_std / sqrt(2 x "
        "n_layers), norm weights start at 1",
    )

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
            out.append(
                f"model.n_kv_heads={self.n_kv_heads}: must divide model.n_heads="
                f"{self.n_heads} (grouped-query attention)"
            )
        return out


class DataConfig(_Section):
    source: Literal["synthetic", "local", "hf"] = Field(
        default="synthetic",
        description="synthetic: generated short stories and sums, no "
        "download; local: .txt/.jsonl/.json files at data.path; hf: a Hugging Face dataset, "
        "streamed",
    )
    path: str | None = Field(
        default=None,
        description="local: a file, or a directory searched for .txt, .jsonl "
        "and .json files; hf: a hub dataset name, or a local file or directory read through "
        "`datasets`. Required unless data.source=synthetic",
    )
    name: str | None = Field(default=None, description="hf, a hub dataset: its config name")
    split: str = Field(default="train", description="hf: the split to train on")
    val_split: str | None = Field(
        default=None,
        description="hf: a split to validate on; none: validate on documents "
        "held out of the training data (data.val_holdout)",
    )
    text_field: str = Field(
        default="text",
        description="the field that holds a document's "
        "text: in each line of .jsonl/.json files, or the hf column",
    )
    tokenizer: str | None = Field(
        default=None,
        description="path of a tokenizer.json (Hugging Face `tokenizers` "
        "format); none: UTF-8 bytes (258 token ids)",
    )
    val_holdout: int = Field(
        default=100,
        ge=2,
        description="every val_holdout-th document (by content hash) is "
        "kept out of training and used for validation only (unless data.val_split is set)",
    )
    num_shards: int = Field(
        default=0,
        ge=0,
        description="streams the documents are dealt into; each rank owns "
        "whole streams, so it must divide global_batch_size and be a multiple of the ranks. "
        "0: global_batch_size, so any world size dividing the batch can resume a checkpoint",
    )


class OptimConfig(_Section):
    lr: float = Field(
        default=3e-4, gt=0, description="peak AdamW learning rate, reached after warm-up"
    )
    min_lr_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="the cosine decay ends at lr x min_lr_ratio at max_steps",
    )
    warmup_steps: int = Field(
        default=10, ge=0, description="steps of linear warm-up to lr before the cosine decay"
    )
    weight_decay: float = Field(
        default=0.1, ge=0, description="AdamW weight decay of the matrices; norm weights have none"
    )
    beta1: float = Field(default=0.9, ge=0, lt=1, description="AdamW beta1 (first-moment decay)")
    beta2: float = Field(default=0.95, ge=0, lt=1, description="AdamW beta2 (second-moment decay)")
    eps: float = Field(default=1e-8, gt=0, description="AdamW epsilon")
    grad_clip: float = Field(
        default=1.0,
        ge=0,
        description="clip the global gradient norm "
        "to this; 0: no clipping (the norm is still measured)",
    )


class CheckpointConfig(_Section):
    dir: str = Field(
        default="checkpoints",
        description="where step checkpoints are written "
        "and resumed from; in a PyTorchJob, the mounted shared volume",
    )
    interval: int = Field(
        default=100,
        ge=0,
        description="save every this many steps; 0: only at the end (and on SIGTERM, as always)",
    )
    keep: int = Field(
        default=3,
        ge=1,
        description="complete checkpoints kept; older ones are deleted after each save",
    )
    resume: bool = Field(
        default=True,
        description="resume from the newest complete "
        "checkpoint in checkpoint.dir; false: refuse to start if it holds one",
    )
    export: str | None = Field(
        default=None,
        description="file to write the consolidated "
        "model weights to at the end (one torch.save file); none: no "
        "export",
    )


class ParallelConfig(_Section):
    mixed_precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="bf16: bf16 parameters and compute with fp32 gradient "
        "reduction (refused on GPUs without bf16 tensor cores); auto: bf16 on CUDA GPUs with "
        "bf16 tensor cores (sm_80+), fp32 elsewhere (CPU, T4)",
    )
    activation_checkpointing: bool = Field(
        default=False,
        description="recompute each "
        "block's activations in the backward pass: less "
        "memory, more compute",
    )
    compile: bool = Field(default=False, description="torch.compile each transformer block")
    timeout_s: int = Field(
        default=600,
        gt=0,
        description="seconds a collective may wait "
        "for the other ranks before failing (the process group's timeout)",
    )


class MetricsConfig(_Section):
    log_interval: int = Field(
        default=10,
        gt=0,
        description="print a progress line (loss, "
        "throughput, MFU, memory, ETA; rank 0, also into "
        "metrics.jsonl) every this many steps and at the last",
    )
    val_interval: int = Field(
        default=0, ge=0, description="validate every this many steps; 0: only at the end"
    )
    val_sequences: int = Field(
        default=16,
        gt=0,
        description="held-out sequences (of seq_len "
        "tokens) the validation loss is measured on, split across the "
        "ranks",
    )
    out_dir: str = Field(
        default="runs/latest",
        description="where rank 0 writes metrics.jsonl, loss.png and summary.json",
    )
    peak_tflops: float | None = Field(
        default=None,
        gt=0,
        description="peak TFLOP/s per device that MFU is measured "
        "against; none: the GPU table by device name, else a measured matmul",
    )


class DebugConfig(_Section):
    """Faults injected on purpose, for the tests of what the trainer does about them."""

    nan_at_step: int = Field(
        default=0,
        ge=0,
        description="make the last rank's loss NaN at "
        "this step (the run stops with exit code 3); 0: off",
    )
    kill_at_step: int = Field(
        default=0,
        ge=0,
        description="SIGKILL rank debug.kill_rank at "
        "this step of a fresh start (not after a resume); 0: off",
    )
    kill_rank: int = Field(default=0, ge=0, description="the rank debug.kill_at_step kills")


class TrainConfig(_Section):
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
        "parallel": {"activation_checkpointing": True},
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


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, FieldInfo, bool]]:
    """(dotted path, field, whether it is a section) of every field, depth first: a section
    comes before its own fields."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        options = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) else [ann]
        section = next(
            (a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        out.append((f"{prefix}{name}", field, section is not None))
        if section is not None:
            out.extend(_fields(section, f"{prefix}{name}."))
    return out


def _value_at(cfg: BaseModel, path: str) -> Any:
    value: Any = cfg
    for name in path.split("."):
        value = None if value is None else getattr(value, name)
    return value


def _show(value: Any) -> str:
    """A value as it is written on the command line."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_help(path: str, presets: dict[str, TrainConfig]) -> str:
    """The value each preset gives the option: presets override the field defaults."""
    shown = {name: _show(_value_at(cfg, path)) for name, cfg in presets.items()}
    if len(set(shown.values())) == 1:
        return f"default: {next(iter(shown.values()))}"
    return "default by preset: " + ", ".join(f"{name} {v}" for name, v in shown.items())


def _parse_value(text: str) -> Any:
    """Strings go to pydantic as given (it converts "50", "3e-4", "true"); "none" clears a field."""
    return None if text.lower() in ("none", "null") else text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="FSDP2 Llama trainer. Runs alone or under torchrun; resumes from the newest "
        "complete checkpoint in --checkpoint.dir. Every option is a path in the "
        "config; `none` clears an optional value.",
        allow_abbrev=False,
    )
    presets = {name: build(name) for name in PRESETS}
    groups: dict[str, Any] = {"": p}
    for path, field, is_section in _fields(TrainConfig):
        parent = path.rpartition(".")[0]
        if is_section:
            groups[path] = p.add_argument_group(f"{path} options", field.description)
            continue
        if path == "preset":
            p.add_argument(
                "--preset",
                default=field.default,
                choices=list(PRESETS),
                help=f"{field.description} (default: {field.default})",
            )
            continue
        # argparse formats help with %-placeholders.
        text = f"{field.description} ({_default_help(path, presets)})".replace("%", "%%")
        flags = [f"--{path.replace('_', '-')}"]
        if "_" in path:
            flags.append(f"--{path}")
        groups[parent].add_argument(
            *flags,
            dest=path,
            default=argparse.SUPPRESS,
            type=_parse_value,
            metavar=_metavar(field.annotation),
            help=text,
        )
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
