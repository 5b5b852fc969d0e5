"""How much GPU memory a training run needs per rank, and the activation-checkpointing mode and
micro-batch that fit.

Pure and stdlib-only (no torch): the trainer can resolve its defaults with it at start, and the
stack's `trainstack plan` prints it per job without importing torch.

The model is the peak of one rank of this trainer (FSDP2 over `ranks`, trainer/parallelize.py),
in bytes, as the sum of:

- parameters: the fp32 master copy, sharded: 4 P / ranks.
- gradients: fp32, sharded (reduced every micro-batch across ranks): 4 P / ranks.
- optimizer state: AdamW's exp_avg and exp_avg_sq in the parameters' dtype: 8 P / ranks.
- gathered parameters, in the compute dtype: the unit computing and the one prefetched (two
  blocks), plus the output projection, kept gathered from the end of forward into backward
  (reshard_after_forward=False for norm + output); tied embeddings: the root's shared weight,
  gathered for the whole step.
- activations: what every block keeps for backward, per token, times the micro-batch's tokens
  and the layers (below), plus the final norm's input.
- transient: the largest of three moments the peak can fall on, all with every layer's
  activations held:
  - the loss at the end of forward (trainer/loss.py): the fp32 [vocab, dim] weight-gradient
    accumulator, one chunk's buffers (trainer/loss_chunks.py chunk_budget_bytes), and the
    [tokens, dim] hidden state and its gradient;
  - the head's hand-over at the start of backward: the output weight's gradient as it reaches
    FSDP2 and the unit's reduce-scatter input in fp32. Untied, the gradient stays fp32
    (trainer/parallelize.py gives that unit fp32 gradients), so both are fp32; tied, the
    accumulator is rounded to the compute dtype, both alive for that instant, and the root's
    reduce waits for the end of backward;
  - a block's backward: one block's recomputed activations (full: all of them; selective:
    those not saved), the gradients flowing through it, and the unit's unsharded gradient in
    the compute dtype plus FSDP2's reduce-scatter input in fp32 (the output unit's, still in
    flight, when larger).
- overhead: a fixed 1.5 GiB per process (an assumption, see OVERHEAD_GIB).

The optimizer step adds no parameter-sized temporary (the trainer's AdamW is fused,
trainer/train.py build_optimizer) and comes after activations and gathered parameters are freed,
so it is never the peak. The embedding's token-row exchange (trainer/embedding.py) happens at the
start of forward and the end of backward, when no activations are held, and is left out.

A run fits a GPU when the total leaves HEADROOM of its memory free.

Activations per token and layer. The method is Korthikanti et al., "Reducing Activation
Recomputation in Large Transformer Models" (MLSys 2023, arXiv:2205.05198, section 4.1): count
each tensor autograd keeps for backward. Their GPT layer keeps sbh(34 + 5as/h) bytes in 16-bit;
adapted here to this trainer's Llama block:
- no dropout (their masks, 2 sh and the as^2 one, are gone);
- fused attention (SDPA flash / memory-efficient): the [heads, s, s] scores and softmax (their
  5as^2 term) are not kept, only q, k, v, the output and an fp32 log-sum-exp per head;
- grouped-query attention: k and v have n_kv_heads x head_dim columns, not dim;
- RMSNorm instead of LayerNorm: its input and an fp32 inverse RMS per token (torch's fused
  rms_norm on CUDA, aten._fused_rms_norm, whose backward takes exactly these);
- SwiGLU instead of a 4h GELU MLP: gate, silu(gate), up and their product, ffn_hidden each;
- RoPE's multiplications keep only the (shared) cos/sin tables, so the query and key projections'
  raw outputs are freed; the rotated q and k are kept by attention.
Per layer, in elements of the compute dtype (D dim, K kv columns, F ffn_hidden):
  none      6D + 2K + 4F   (norm inputs 2D, norm outputs 2D, rotated q D, k K, v K,
                             attention output D, gate/silu/up/product 4F)
  selective 5D + 2K + 2F   (block input D; the outputs of every matmul: q D, k K, v K, wo D,
                             w1 F, w3 F, w2 D; attention output D), cheap ops recomputed
  full      D              (block input; the whole block is recomputed in backward)
plus, for none and selective, the fp32 log-sum-exp (4 bytes per head) and, for none, two fp32
inverse RMS values per token. Selective keeps every matmul's output as the trainer's policy does
(trainer/activation_checkpoint.py), unlike torchtitan's SelectiveAC, which recomputes every
second one (pytorch/torchtitan@b5bcd76, torchtitan/distributed/activation_checkpoint.py).

Checked on CPU (tests/trainer/test_memory_model.py): the bytes a bf16 block keeps for backward,
measured with saved-tensor hooks, equal the none figure, with the CPU's unfused rms_norm (which
keeps an fp32 copy of its input and its normalized value instead) swapped in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from .loss_chunks import chunk_budget_bytes

GIB = 1 << 30
FP32 = 4
# Cheapest compute first: none recomputes nothing, selective the elementwise ops, full a forward.
MODES: tuple[str, ...] = ("none", "selective", "full")
# Per process, outside the tensors above (an assumption, not measured here): the CUDA context
# alone takes about 0.7-0.8 GiB (PyTorch forum answers "High gpu memory overhead" and "What is
# the reason for pytorch's GPU memory floor?", discuss.pytorch.org), plus NCCL's communicator
# buffers and cuBLAS workspaces.
OVERHEAD_GIB = 1.5
# Kept free of the GPU's memory for the caching allocator's fragmentation (an assumption).
HEADROOM = 0.05


@dataclass(frozen=True)
class Shape:
    """The model's dimensions (a ModelConfig's fields, or a preset's `model` mapping)."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_hidden: int
    vocab_size: int
    tie_embeddings: bool = False

    @classmethod
    def of(cls, model: Mapping) -> Shape:
        return cls(**{f.name: model[f.name] for f in fields(cls) if f.name in model})

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def block_params(self) -> int:
        attention = self.dim * (2 * self.q_dim + 2 * self.kv_dim)
        return attention + 3 * self.dim * self.ffn_hidden + 2 * self.dim  # + two norm weights

    @property
    def vocab_params(self) -> int:
        return self.vocab_size * self.dim

    @property
    def params(self) -> int:
        """Every parameter once (a tied weight once), as Transformer.num_params counts them."""
        head = 0 if self.tie_embeddings else self.vocab_params
        return self.n_layers * self.block_params + self.vocab_params + head + self.dim


def activation_bytes_per_token(
    shape: Shape, mode: str, compute_bytes: int = 2, fused_norm: bool = True
) -> int:
    """What one block keeps for backward per token in `mode` (module docstring).
    fused_norm=False: torch's composite rms_norm (CPU), which keeps an fp32 copy of its input
    and its fp32 normalized value instead of the input."""
    d, k, f = shape.dim, shape.kv_dim, shape.ffn_hidden
    lse = FP32 * shape.n_heads
    if mode == "full":
        return compute_bytes * d
    if mode == "selective":
        return compute_bytes * (5 * d + 2 * k + 2 * f) + lse
    if mode != "none":
        raise ValueError(f"activation checkpointing mode {mode!r}: one of {', '.join(MODES)}")
    norm_input = compute_bytes * d if fused_norm else 2 * FP32 * d
    norms = 2 * (norm_input + FP32)
    return norms + compute_bytes * (2 * d + 2 * shape.q_dim + 2 * k + 4 * f) + lse


def recompute_bytes_per_token(shape: Shape, mode: str, compute_bytes: int = 2) -> int:
    """What backward recreates for one block at a time: full, every none-mode tensor; selective,
    those it did not save (norm inputs and outputs, rotated q and k, silu(gate), the product)."""
    if mode == "none":
        return 0
    if mode == "full":
        return activation_bytes_per_token(shape, "none", compute_bytes)
    d, f = shape.dim, shape.ffn_hidden
    # The first norm's input is the block input, which checkpointing keeps.
    return compute_bytes * (3 * d + shape.q_dim + shape.kv_dim + 2 * f) + 2 * FP32


def activation_grad_bytes_per_token(shape: Shape, compute_bytes: int = 2) -> int:
    """Gradients alive at once inside one block's backward: at most three ffn_hidden-wide ones
    (of the product, then of silu(gate) and up, then of the gate) and two of the residual
    stream (an estimate, not a count)."""
    return compute_bytes * (3 * shape.ffn_hidden + 2 * shape.dim)


@dataclass(frozen=True)
class Breakdown:
    """Peak bytes per rank by what holds them (module docstring); `total` is their sum."""

    parameters: float
    gradients: float
    optimizer: float
    gathered: float
    activations: float
    transient: float
    overhead: float
    transient_at: str  # "loss" (end of forward), "head" (its gradient's hand-over), "backward"

    @property
    def total(self) -> float:
        return (
            self.parameters
            + self.gradients
            + self.optimizer
            + self.gathered
            + self.activations
            + self.transient
            + self.overhead
        )

    def gib(self) -> dict[str, float]:
        parts = ("parameters", "gradients", "optimizer", "gathered", "activations", "transient")
        out = {name: getattr(self, name) / GIB for name in parts + ("overhead",)}
        return out | {"total": self.total / GIB}


def estimate(shape: Shape, ranks: int, tokens: int, mode: str, *, bf16: bool = True) -> Breakdown:
    """Peak memory per rank for micro-batches of `tokens` tokens (micro_batch_size x seq_len)."""
    if ranks < 1 or tokens < 1:
        raise ValueError(f"ranks={ranks}, tokens={tokens}: both must be at least 1")
    c = 2 if bf16 else FP32  # FSDP2's param_dtype: the compute dtype of gathered weights
    shard = shape.params / ranks
    block, vocab = shape.block_params, shape.vocab_params
    gathered = c * (2 * block + vocab)  # two blocks, and the output (or the tied root)
    per_layer = activation_bytes_per_token(shape, mode, c)
    # + the final norm's input and inverse RMS.
    activations = tokens * (shape.n_layers * per_layer + c * shape.dim + FP32)
    hidden = 2 * tokens * c * shape.dim  # the hidden state and its gradient
    loss = FP32 * vocab + chunk_budget_bytes(shape.vocab_size, shape.dim, c) + hidden
    head = FP32 * vocab + (c if shape.tie_embeddings else FP32) * vocab + hidden
    # A unit's gradient: produced in the compute dtype, copied to fp32 for the reduce-scatter.
    # The output unit's reduce may still run when the last block's backward starts.
    in_flight = vocab if not shape.tie_embeddings else block
    unit_grads = c * block + FP32 * max(block, in_flight)
    if shape.tie_embeddings:
        unit_grads += c * vocab  # the root's unsharded gradient, reduced after the last block
    backward = unit_grads + tokens * (
        recompute_bytes_per_token(shape, mode, c) + activation_grad_bytes_per_token(shape, c)
    )
    return Breakdown(
        parameters=FP32 * shard,
        gradients=FP32 * shard,
        optimizer=2 * FP32 * shard,
        gathered=gathered,
        activations=activations,
        transient=max(loss, head, backward),
        overhead=OVERHEAD_GIB * GIB,
        transient_at=max((loss, "loss"), (head, "head"), (backward, "backward"))[1],
    )


def usable_gib(gpu_memory_gib: float) -> float:
    return gpu_memory_gib * (1 - HEADROOM)


def fits(breakdown: Breakdown, gpu_memory_gib: float) -> bool:
    return breakdown.total / GIB <= usable_gib(gpu_memory_gib)


class DoesNotFit(ValueError):
    """No mode (or not the one asked for) fits the GPU: what each needs, and how many ranks would
    make full checkpointing fit (None: none up to 4096)."""

    def __init__(self, needs_gib: dict[str, float], usable: float, enough_ranks: int | None):
        self.needs_gib, self.usable, self.enough_ranks = needs_gib, usable, enough_ranks
        needs = ", ".join(f"{m} {gib:.1f}" for m, gib in needs_gib.items())
        hint = (
            f"full checkpointing fits from {enough_ranks} ranks"
            if enough_ranks
            else "no number of ranks makes it fit"
        )
        super().__init__(f"GiB per rank: {needs}, of {usable:.1f} usable; {hint}")


@dataclass(frozen=True)
class Choice:
    mode: str
    micro_batch: int
    breakdown: Breakdown
    chosen_mode: bool  # picked by the model, not named by the config
    chosen_micro_batch: bool


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def min_ranks(shape: Shape, gpu_memory_gib: float, tokens: int, *, bf16: bool = True) -> int | None:
    """The fewest ranks at which full checkpointing fits (None: not even at 4096)."""
    full = (estimate(shape, n, tokens, "full", bf16=bf16) for n in range(1, 4097))
    return next((i + 1 for i, b in enumerate(full) if fits(b, gpu_memory_gib)), None)


def choose(
    shape: Shape,
    gpu_memory_gib: float,
    ranks: int,
    seq_len: int,
    *,
    sequences_per_rank: int | None = None,
    mode: str | None = None,
    micro_batch: int | None = None,
    bf16: bool = True,
) -> Choice:
    """The mode and micro-batch a run gets: what the config names is kept; otherwise the
    cheapest-compute mode that fits at the smallest micro-batch (one sequence, or the named
    one), then the largest micro-batch dividing `sequences_per_rank` that still fits in that
    mode (one sequence when that is unknown). Raises DoesNotFit when nothing fits."""
    modes = [mode] if mode is not None else list(MODES)
    sizes = [micro_batch] if micro_batch is not None else _divisors(sequences_per_rank or 1)
    for m in modes:
        if not fits(estimate(shape, ranks, sizes[0] * seq_len, m, bf16=bf16), gpu_memory_gib):
            continue
        best = max(
            s
            for s in sizes
            if fits(estimate(shape, ranks, s * seq_len, m, bf16=bf16), gpu_memory_gib)
        )
        return Choice(
            m,
            best,
            estimate(shape, ranks, best * seq_len, m, bf16=bf16),
            chosen_mode=mode is None,
            chosen_micro_batch=micro_batch is None,
        )
    raise _refusal(shape, gpu_memory_gib, ranks, seq_len, modes, sizes[0], bf16)


def _refusal(
    shape: Shape, gpu_gib: float, ranks: int, seq_len: int, modes: list[str], mb: int, bf16: bool
) -> DoesNotFit:
    needs = {m: estimate(shape, ranks, mb * seq_len, m, bf16=bf16).total / GIB for m in modes}
    return DoesNotFit(needs, usable_gib(gpu_gib), min_ranks(shape, gpu_gib, seq_len, bf16=bf16))


# -- the docs' table ---------------------------------------------------------------------------


def table(
    presets: Mapping[str, Mapping], gpus: Mapping[str, tuple[float, bool]], ranks: int = 8
) -> str:
    """docs/trainer.md's table: per preset (its model and seq_len) and GPU (label: memory GiB,
    bf16), the mode chosen at micro-batch 1 on `ranks` ranks and its GiB per GPU, or the GiB
    full checkpointing would need."""
    header = f"| preset ({ranks} ranks, 1 sequence) | " + " | ".join(gpus) + " |"
    lines = [header, "|" + "---|" * (len(gpus) + 1)]
    for name, preset in presets.items():
        shape, seq_len = Shape.of(preset["model"]), preset["seq_len"]
        cells = []
        for gib, bf16 in gpus.values():
            try:
                c = choose(shape, gib, ranks, seq_len, micro_batch=1, bf16=bf16)
                cells.append(f"{c.mode} {c.breakdown.total / GIB:.1f}")
            except DoesNotFit:
                need = estimate(shape, ranks, seq_len, "full", bf16=bf16).total / GIB
                cells.append(f"no fit ({need:.1f})")
        lines.append(f"| {name} (seq {seq_len}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mode_table(presets: Mapping[str, Mapping], ranks: int = 8) -> str:
    """docs/trainer.md's per-mode table: each preset's GiB per rank in bf16 at one sequence."""
    lines = [f"| preset ({ranks} ranks, bf16, 1 sequence) | " + " | ".join(MODES) + " |"]
    lines.append("|" + "---|" * (len(MODES) + 1))
    for name, preset in presets.items():
        shape, seq_len = Shape.of(preset["model"]), preset["seq_len"]
        gib = [estimate(shape, ranks, seq_len, m).total / GIB for m in MODES]
        lines.append(f"| {name} (seq {seq_len}) | " + " | ".join(f"{g:.1f}" for g in gib) + " |")
    return "\n".join(lines)
