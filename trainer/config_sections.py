"""The sections of a training config (model, data, optim, checkpoint, parallel, metrics, debug),
one pydantic model each. Every field's description is its `--help` text (trainer/config.py builds
the command line from them); the checks across sections are trainer/train_config.py's.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ConfigError(ValueError):
    """Every problem of one training config, one line each."""

    def __init__(self, issues: list[str]):
        self.issues = issues
        super().__init__("invalid training config:\n" + "\n".join(f"  - {i}" for i in issues))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RopeScaling(Section):
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


class ModelConfig(Section):
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
    init_from: str | None = Field(
        default=None,
        description="start a fresh run from these Hugging Face Llama weights: a local directory "
        "with config.json and model.safetensors (or shards and their index). The model keys "
        "must agree with its config.json, and its tokenizer.json is the run's unless "
        "data.tokenizer is set; a resumed run takes its checkpoint instead; none: random init",
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


class DataConfig(Section):
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
    format: Literal["text", "prompt_response", "chat"] = Field(
        default="text",
        description="text: documents (data.text_field) packed into one stream, every token "
        'trained; prompt_response: JSON lines {"prompt", "response"}; chat: JSON lines '
        '{"messages": [{"role", "content"}, ...]} rendered with the chat template beside '
        "data.tokenizer. Both fine-tuning formats train on the response (assistant) tokens only "
        "and pack whole examples into sequences (docs/trainer.md)",
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


class OptimConfig(Section):
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


class CheckpointConfig(Section):
    dir: str = Field(
        default="checkpoints",
        description="where step checkpoints are written "
        "and resumed from; in a PyTorchJob, the mounted shared volume",
    )
    interval: int = Field(
        default=100,
        ge=0,
        description="save every this many steps; 0: never (a SIGTERM and the end of a "
        "--stop-at slice still save)",
    )
    at_end: bool = Field(
        default=False,
        description="also save after the last step (the stack's jobs set it); false: the last "
        "step is saved only when checkpoint.interval divides it",
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
    async_save: bool = Field(
        default=True,
        description="write checkpoints in the background: the step waits only for a copy of "
        "the state in host memory (which then takes that much memory); false: the step waits "
        "for the write",
    )
    export: str | None = Field(
        default=None,
        description="directory to write the model to at the end, in Hugging Face format "
        "(config.json, model.safetensors, the tokenizer): what transformers and vLLM load; "
        "none: no export",
    )
    export_dtype: Literal["bfloat16", "float32"] = Field(
        default="bfloat16",
        description="dtype of the exported weights (the trainer's own are float32)",
    )
    export_shard_gb: float = Field(
        default=5.0,
        gt=0,
        description="the export's weights are split into files of at most this many GB, "
        "listed by model.safetensors.index.json",
    )
    upload: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="s3://BUCKET/checkpoints/JOB: the consolidated export goes to "
        "s3://BUCKET/models/JOB at the end (to checkpoint.dir/model when checkpoint.export "
        "is unset), every checkpoint.upload_every-th checkpoint here, and a run with no local "
        "checkpoint resumes from the newest complete one here (trainer/s3_store.py)",
    )
    upload_every: int = Field(
        default=1,
        ge=0,
        description="with checkpoint.upload: upload every this many checkpoint saves (and the "
        "last one of a run); 0: upload only the export",
    )
    volume_throughput_mbps: float | None = Field(
        default=None,
        gt=0,
        description="the checkpoint volume's throughput in MB/s (the stack passes its "
        "volume's); a run whose checkpoint cannot be written or read within half of "
        "parallel.timeout_s is refused at start (trainer/checkpoint_budget.py); none: not checked",
    )


CheckpointMode = Literal["auto", "none", "full", "selective"]
CHECKPOINT_MODES: tuple[str, ...] = get_args(CheckpointMode)


class ParallelConfig(Section):
    mixed_precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="bf16: bf16 parameters and compute with fp32 gradient "
        "reduction (refused on GPUs without bf16 tensor cores); auto: bf16 on CUDA GPUs with "
        "bf16 tensor cores (sm_80+), fp32 elsewhere (CPU, T4)",
    )
    activation_checkpointing: CheckpointMode = Field(
        default="auto",
        description="what each block keeps for backward. none: every activation; full: only "
        "its input, the whole block is recomputed in backward (least memory, one more forward); "
        "selective: the outputs of its matmuls and attention, the cheap rest (norms, RoPE, "
        "SwiGLU) recomputed; auto: on a GPU the first of none, selective, full that the memory "
        "model (trainer/memory_model.py) fits in its memory, none on a CPU. true/false of older "
        "configs mean full/none",
    )
    compile: bool = Field(
        default=False,
        description="torch.compile each transformer block as one graph (fullgraph)",
    )
    timeout_s: int = Field(
        default=600,
        gt=0,
        description="seconds a collective may wait "
        "for the other ranks before failing (the process group's timeout)",
    )

    @field_validator("activation_checkpointing", mode="before")
    @classmethod
    def _checkpoint_mode(cls, value: Any) -> Any:
        """A mode, or the boolean this option was before it had three (from a stack's job args
        or an old command line): true is full, false none. The command line reads `none` as
        a cleared value (trainer/config.py): here that is the mode none."""
        if value is None:
            return "none"
        text = str(value).lower() if isinstance(value, (bool, str)) else None
        if text in ("true", "false"):
            return "full" if text == "true" else "none"
        if text not in CHECKPOINT_MODES:
            raise ValueError(
                f"must be one of {', '.join(CHECKPOINT_MODES)} (true/false: full/none)"
            )
        return text


class MetricsConfig(Section):
    log_interval: int = Field(
        default=10,
        gt=0,
        description="print a progress line (loss, "
        "throughput, MFU, memory, ETA; rank 0, also into "
        "metrics.jsonl) every this many steps and at the last",
    )
    val_interval: int = Field(
        default=0, ge=0, description="validate every this many steps; 0: never"
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
        description="where rank 0 writes metrics.jsonl, loss.png, summary.json and tensorboard/",
    )
    plot: bool = Field(
        default=True,
        description="rank 0 draws loss.png at the end of the run (matplotlib, about half a "
        "second of CPU); false: metrics.jsonl and summary.json only",
    )
    tensorboard: bool = Field(
        default=True,
        description="rank 0 also writes the figures of metrics.jsonl as TensorBoard scalars "
        "into out_dir/tensorboard (uploaded beside the checkpoints with checkpoint.upload)",
    )
    peak_tflops: float | None = Field(
        default=None,
        gt=0,
        description="peak TFLOP/s per device that MFU is measured "
        "against; none: the GPU table by device name, else a measured matmul",
    )


class DebugConfig(Section):
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
