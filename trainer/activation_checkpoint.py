"""Activation checkpointing of one transformer block: none, full or selective (op by op).

Full keeps only the block's input and recomputes its whole forward in backward: the least
memory, one more forward per step. Selective keeps the outputs of the ops that are expensive to
redo (matmuls and attention) and recomputes the cheap ones in between (RMSNorm, RoPE, SiLU and
the SwiGLU product, casts), which cost memory bandwidth, not FLOPs: most of full's saving at a
few per cent of its recompute time.

Selective is torch's op-level mechanism (`create_selective_checkpoint_contexts`, the policy
torchtitan's `SelectiveAC` builds on: pytorch/torchtitan@b5bcd76,
torchtitan/distributed/activation_checkpoint.py). Unlike torchtitan's policy, which recomputes
every second matmul to save more memory, this one saves every matmul: recompute is then no
matmul at all.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from . import memory_model

aten = torch.ops.aten

# Matmuls (an nn.Linear reaches the dispatcher as mm, addmm with a bias, bmm for batched inputs)
# and every SDPA kernel torch 2.13 may pick (flash and efficient on CUDA, cuDNN, the CPU flash
# kernel, the math fallback; the overrideable one for other backends).
SAVED_OPS = frozenset(
    {
        aten.mm.default,
        aten.addmm.default,
        aten.bmm.default,
        aten.linear.default,
        aten._scaled_dot_product_flash_attention.default,
        aten._scaled_dot_product_efficient_attention.default,
        aten._scaled_dot_product_cudnn_attention.default,
        aten._scaled_dot_product_flash_attention_for_cpu.default,
        aten._scaled_dot_product_attention_math.default,
        aten._scaled_dot_product_fused_attention_overrideable.default,
    }
)


def save_matmuls_and_attention(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    """The selective policy, asked once per op in forward and again in the recompute."""
    return CheckpointPolicy.MUST_SAVE if op in SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def _selective_contexts():
    # A fresh pair of contexts per forward: they hold that forward's saved outputs.
    return create_selective_checkpoint_contexts(save_matmuls_and_attention)


def checkpointed(block: nn.Module, mode: str) -> nn.Module:
    """`block` wrapped for `mode` (parallel.activation_checkpointing); the block itself for none.
    The wrapper's parameter names gain `_checkpoint_wrapped_module.`, which the state dict
    drops, so checkpoints load across modes. No RNG state is kept: the blocks draw no random
    numbers (no dropout)."""
    if mode == "none":
        return block
    if mode == "full":
        return checkpoint_wrapper(block, preserve_rng_state=False)
    if mode == "selective":
        return checkpoint_wrapper(block, preserve_rng_state=False, context_fn=_selective_contexts)
    raise ValueError(f"activation checkpointing mode {mode!r}")


def resolve_mode(
    mode: str, model: Mapping, seq_len: int, micro_batch: int, world_size: int, bf16: bool
) -> tuple[str, str]:
    """(the mode a run uses, why): a named mode as is; `auto` on a GPU is the memory model's
    choice for this GPU's memory (memory_model.choose: none, else selective, else full, the
    first that fits), on a CPU none. When the model says nothing fits, full, the least memory,
    with the model's figures: the model is an estimate, and a real out-of-memory error still
    stops the run with its own message (permanent_errors.py)."""
    if mode != "auto":
        return mode, "as configured"
    if not torch.cuda.is_available():
        return "none", "auto: no GPU memory to fit"
    gib = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / 2**30
    shape = memory_model.Shape.of(model)
    try:
        choice = memory_model.choose(
            shape, gib, world_size, seq_len, micro_batch=micro_batch, bf16=bf16
        )
    except memory_model.DoesNotFit as e:
        return "full", f"auto: the memory model fits no mode in {gib:.1f} GiB ({e})"
    used = choice.breakdown.total / memory_model.GIB
    return choice.mode, f"auto: {used:.1f} of {gib:.1f} GiB by the memory model"
