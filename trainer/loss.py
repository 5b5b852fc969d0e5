"""Output projection fused with cross-entropy, chunk by chunk over tokens, gradients in forward.

The plain path materialises the full [tokens, vocab] logits, an fp32 copy of them, the
log-softmax of the same size for backward, and its gradient: at Llama 3's 128k vocabulary the
largest tensors of the step. Here the logits exist for one chunk of tokens at a time, and the
loss is reduced to one sum. A sum's gradient is known before backward (one per token, times
whatever scalar backward brings), so when gradients are wanted, forward turns each chunk's
logits into their gradient (softmax minus one-hot) in place and multiplies it into the
hidden-state and weight gradients; backward only scales them. Three matmuls per chunk, as the
plain path's forward and backward: no logits are computed twice.

Chunks are sized by work (`chunk_tokens`): as large as the memory rule allows, so that the
three matmuls of a chunk are bound by compute, not by re-reading the [vocab, dim] weight and
its fp32 gradient for every few hundred tokens (bench/loss_traffic.py prints the bytes moved).

`OutputHead` is the model's `output` Linear (same parameter name, so checkpoints load): called
with targets it returns the summed loss, so under FSDP2 its own forward hooks gather the
(sharded) weight exactly as for the logits path.
"""

from __future__ import annotations

import torch
from torch import nn

from .loss_elementwise import (
    IGNORE_INDEX,
    scratch_rows,
    softmax_grad_,
    softmax_grad_compiled_,
)
from .loss_weight_grad import add_weight_grad

__all__ = ["CHUNK_ELEMENTS", "IGNORE_INDEX", "OutputHead", "chunk_tokens", "linear_cross_entropy"]

# The fixed chunk before chunks were sized by work, 2^24 fp32 logits (64 MiB): now the floor of
# a chunk's budget, and still the chunk in fp32 (trainer/memory_model.py reads it).
CHUNK_ELEMENTS = 1 << 24


def chunk_tokens(tokens: int, vocab: int, dim: int, itemsize: int) -> int:
    """Tokens per chunk: the most whose buffers fit the budget below, then evened out so the
    chunks of a micro-batch are the same size (the last one no larger). itemsize: the
    weight's (and compute) dtype's.

    The rule keeps the loss's peak where it was before chunks were sized by work. Beyond its
    fp32 [vocab, dim] weight-gradient accumulator, the loss held one 2^24-element fp32 logits
    chunk (64 MiB) and, in 16-bit, at its end the accumulator's copy rounded to the weight's
    dtype (vocab x dim x itemsize bytes, both alive for that instant). A chunk now holds its
    [chunk, vocab] logits in the compute dtype (the gradient is written over them) plus, in
    16-bit, an fp32 scratch of at most `loss_elementwise.scratch_rows` rows; the budget for
    both is the larger of those two earlier transients. In bf16 at Llama 3's 128k vocabulary
    that is about 1800 tokens at dim 2048 and 3800 at dim 4096: an 8192-token micro-batch is 5
    or 3 chunks, where torchtitan's chunked loss takes 8 (ChunkedLossWrapper's num_chunks,
    pytorch/torchtitan@b5bcd76 torchtitan/components/loss.py). In fp32 (CPU, T4) nothing
    larger was held, so chunks stay 2^24 logits: on one rank the loss's forward of a second
    micro-batch is the step's peak (FSDP2 keeps the first one's unsharded gradients), and a
    larger fp32 chunk raises it by its growth (bench/compare.py's vocab 128k run measured
    +368 MiB for 512-token chunks at dim 512).
    """
    budget = max(4 * CHUNK_ELEMENTS, vocab * dim * itemsize if itemsize < 4 else 0)
    if itemsize >= 4:
        most = budget // (vocab * itemsize)
    else:
        rows = scratch_rows(vocab)
        most = budget // (vocab * (itemsize + 4))  # a scratch row for every row
        if most > rows:  # the scratch is capped at `rows` rows
            most = (budget - 4 * rows * vocab) // (vocab * itemsize)
    most = max(1, most)
    chunks = max(1, -(-tokens // most))
    return max(1, -(-tokens // chunks))


def _use_compile(h: torch.Tensor, compile: bool | None) -> bool:
    # Default: compiled on CUDA, where the elementwise passes are memory-bound and one fused
    # kernel replaces about eight; eager on CPU, where inductor's C++ build costs seconds per
    # shape and the passes are a small part of the chunk's time (the matmuls dominate).
    return h.is_cuda if compile is None else compile


class _LinearCrossEntropySum(torch.autograd.Function):
    """sum_i logsumexp(h[i] @ W.T) - (h[i] @ W.T)[targets[i]], ignored targets left out."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk: int, want_grad: bool, compiled: bool):
        n = h.shape[0]
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        need_h = want_grad and ctx.needs_input_grad[0]
        need_w = want_grad and ctx.needs_input_grad[1]
        grad_h = torch.empty(h.shape, dtype=h.dtype, device=h.device) if need_h else None
        # The weight gradient accumulates over chunks in fp32, written in place.
        grad_w = None
        if need_w:
            grad_w = torch.empty(weight.shape, dtype=torch.float32, device=h.device)
            if n == 0:
                grad_w.zero_()
        elementwise = softmax_grad_compiled_ if compiled else softmax_grad_
        # One logits buffer for every chunk: no allocation per chunk (on CPU a fresh mapping
        # of this size is also a page fault per 4 KiB).
        buf = torch.empty((min(chunk, n), weight.shape[0]), dtype=h.dtype, device=h.device)
        for s in range(0, n, chunk):
            h_c = h[s : s + chunk]
            logits = torch.mm(h_c, weight.t(), out=buf[: h_c.shape[0]])
            total += elementwise(logits, targets[s : s + chunk], need_h or need_w)
            if need_h:  # logits now hold d sum / d logits
                torch.mm(logits, weight, out=grad_h[s : s + chunk])
            if need_w:
                add_weight_grad(grad_w, logits, h_c, first=s == 0)
        del buf
        # Returned in the weight's dtype, rounded once, though FSDP2 reduces in fp32: a bf16
        # parameter's gradient is bf16 whatever backward returns (the autograd engine casts a
        # gradient to the leaf's grad_dtype, which defaults to its dtype: torch 2.13
        # Tensor.grad_dtype), as every other layer's bf16 gradient is. Keeping this one fp32
        # would need grad_dtype = fp32 on FSDP's unsharded parameters, for every parameter of
        # the norm + output unit at once (foreach_reduce refuses mixed gradient dtypes in one
        # unit: torch 2.13 distributed/fsdp/_fully_shard/_fsdp_collectives.py), set by the
        # wrapping, not here; and the unit's reduce-scatter copy-in would then hold the fp32
        # gradient next to its fp32 copy, 2 bytes a weight element above today's peak.
        if grad_w is not None and grad_w.dtype != weight.dtype:
            grad_w = grad_w.to(weight.dtype)
        ctx.grads = (grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_h, grad_w = ctx.grads
        ctx.grads = None  # each is used once; let them go with this step's graph
        # grad_total is a scalar: 1/tokens from a mean, NaN from the non-finite poison, ...
        # (mul_ computes in fp32 and rounds once, for bf16 gradients too.)
        if grad_h is not None:
            grad_h = grad_h.mul_(grad_total)
        if grad_w is not None:
            grad_w = grad_w.mul_(grad_total)
        return grad_h, grad_w, None, None, None, None


def linear_cross_entropy(
    h: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    chunk: int | None = None,
    compile: bool | None = None,
) -> torch.Tensor:
    """The fp32 sum of `F.cross_entropy(F.linear(h, weight).float(), targets, reduction="none")`
    without the full logits. h: [..., dim]; targets: [...]; returns a scalar. chunk: tokens per
    chunk (default `chunk_tokens`); compile: the per-chunk elementwise work through
    torch.compile (default: on CUDA only)."""
    h = h.reshape(-1, h.shape[-1])
    vocab, dim = weight.shape
    chunk = chunk or chunk_tokens(h.shape[0], vocab, dim, weight.element_size())
    want_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return _LinearCrossEntropySum.apply(
        h, weight, targets.reshape(-1), chunk, want_grad, _use_compile(h, compile)
    )


class OutputHead(nn.Linear):
    """The output projection. Without targets: logits. With targets: the summed loss.
    `compile_loss`: None compiles the loss's elementwise work on CUDA only."""

    compile_loss: bool | None = None

    def forward(self, h: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            return super().forward(h)
        return linear_cross_entropy(h, self.weight, targets, compile=self.compile_loss)
