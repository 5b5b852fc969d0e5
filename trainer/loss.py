"""Output projection fused with cross-entropy, chunk by chunk over tokens, gradients in forward.

The plain path materialises the full [tokens, vocab] logits, an fp32 copy of them, the
log-softmax of the same size for backward, and its gradient: at Llama 3's 128k vocabulary the
largest tensors of the step. Here the logits exist for one chunk of tokens at a time, and the
loss is reduced to one sum. A sum's gradient is known before backward (one per token, times
whatever scalar backward brings), so when gradients are wanted, forward turns each chunk's
logits into their gradient (softmax minus one-hot) in place and multiplies it into the
hidden-state and weight gradients; backward only scales them. Three matmuls per chunk, as the
plain path's forward and backward: no logits are computed twice.

Chunks are sized by work (trainer/loss_chunks.py `chunk_tokens`).

The weight gradient accumulates in fp32 and stays fp32 until backward scales it. It reaches
the parameter in fp32 when the parameter takes an fp32 gradient (`grad_dtype`, which
trainer/parallelize.py sets on the untied output unit under bf16 mixed precision, so FSDP2
reduces it in fp32 with no rounding on the way); otherwise it is rounded once, after scaling.

`OutputHead` is the model's `output` Linear (same parameter name, so checkpoints load): called
with targets it returns the summed loss, so under FSDP2 its own forward hooks gather the
(sharded) weight exactly as for the logits path.
"""

from __future__ import annotations

import torch
from torch import nn

from .loss_chunks import CHUNK_ELEMENTS, chunk_tokens
from .loss_elementwise import IGNORE_INDEX, softmax_grad_, softmax_grad_compiled_
from .loss_weight_grad import add_weight_grad

__all__ = ["CHUNK_ELEMENTS", "IGNORE_INDEX", "OutputHead", "chunk_tokens", "linear_cross_entropy"]


def _takes_fp32_grad(weight: torch.Tensor) -> bool:
    """Whether autograd will hand `weight` an fp32 gradient (torch 2.13 Tensor.grad_dtype, a
    leaf's only; a non-leaf's gradient flows on in its own dtype, so it is rounded here)."""
    if weight.dtype == torch.float32:
        return True
    return weight.is_leaf and weight.grad_dtype == torch.float32


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
        ctx.round_to = None if grad_w is None or _takes_fp32_grad(weight) else weight.dtype
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
            grad_w = grad_w.mul_(grad_total)  # still fp32: scaled, then rounded once if at all
            if ctx.round_to is not None:
                grad_w = grad_w.to(ctx.round_to)
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
