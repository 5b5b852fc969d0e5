"""Output projection fused with cross-entropy, chunk by chunk over tokens, gradients in forward.

The plain path materialises the full [tokens, vocab] logits, an fp32 copy of them, the
log-softmax of the same size for backward, and its gradient: at Llama 3's 128k vocabulary the
largest tensors of the step. Here the logits exist for one chunk of tokens at a time, in fp32,
and the loss is reduced to one sum. A sum's gradient is known before backward (one per token,
times whatever scalar backward brings), so when gradients are wanted, forward turns each chunk's
logits into their gradient (softmax minus one-hot) at once and multiplies it into the
hidden-state and weight gradients; backward only scales them. Three matmuls per chunk, as the
plain path's forward and backward: no logits are computed twice.

`OutputHead` is the model's `output` Linear (same parameter name, so checkpoints load): called
with targets it returns the summed loss, so under FSDP2 its own forward hooks gather the
(sharded) weight exactly as for the logits path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100  # as F.cross_entropy

# Logit elements per chunk (fp32: 64 MiB). 130 tokens at a 128k vocabulary, 512 at 32k: still
# large matmuls (the vocabulary is the long side), and a bounded buffer whatever the batch.
CHUNK_ELEMENTS = 1 << 24


def chunk_tokens(vocab_size: int, elements: int = CHUNK_ELEMENTS) -> int:
    return max(1, elements // vocab_size)


def _chunk_loss(h_c, weight, tgt, want_grad: bool):
    """(sum of the chunk's losses, d sum / d logits or None). Matmul in the compute dtype (bf16
    on GPU, as the Linear would), softmax in fp32."""
    logits = F.linear(h_c, weight).float()
    keep = tgt != IGNORE_INDEX
    safe = tgt.clamp(min=0).unsqueeze(1)
    picked = logits.gather(1, safe).squeeze(1)
    # log-sum-exp by hand, in place: torch.logsumexp would allocate a second chunk-sized buffer.
    top = logits.amax(dim=-1, keepdim=True)
    e = logits.sub_(top).exp_()
    total = e.sum(dim=-1)
    loss = torch.where(keep, top.squeeze(1) + total.log() - picked, 0.0).sum()
    if not want_grad:
        return loss, None
    # Softmax in the logits' buffer, with ignored rows zeroed by the same pass; minus one-hot.
    g = e.mul_(torch.where(keep, total.reciprocal(), 0.0)[:, None])
    g.scatter_add_(1, safe, -keep.to(g.dtype).unsqueeze(1))
    return loss, g.to(h_c.dtype)


class _LinearCrossEntropySum(torch.autograd.Function):
    """sum_i logsumexp(h[i] @ W.T) - (h[i] @ W.T)[targets[i]], ignored targets left out."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk: int, want_grad: bool):
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        need_h = want_grad and ctx.needs_input_grad[0]
        need_w = want_grad and ctx.needs_input_grad[1]
        grad_h = torch.empty_like(h) if need_h else None
        # Accumulated over chunks in fp32, cast once (the one-matmul path rounds once too).
        grad_w = None
        for s in range(0, h.shape[0], chunk):
            h_c = h[s : s + chunk]
            loss, g = _chunk_loss(h_c, weight, targets[s : s + chunk], need_h or need_w)
            total += loss
            if need_h:
                torch.matmul(g, weight, out=grad_h[s : s + chunk])
            if not need_w:
                continue
            if grad_w is None:  # the first chunk writes it: no zero-filled [vocab, dim] first
                grad_w = torch.matmul(g.t(), h_c).float()
            elif g.dtype == torch.float32:
                grad_w.addmm_(g.t(), h_c)  # no [vocab, dim] temporary per chunk
            else:
                grad_w.add_(g.t() @ h_c)  # bf16 product, fp32 sum over chunks
        if need_w and grad_w is None:  # no tokens at all
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device)
        ctx.grads = (grad_h, grad_w.to(weight.dtype) if need_w else None)
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
        return grad_h, grad_w, None, None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """The fp32 sum of `F.cross_entropy(F.linear(h, weight).float(), targets, reduction="none")`
    without the full logits. h: [..., dim]; targets: [...]; returns a scalar."""
    h = h.reshape(-1, h.shape[-1])
    chunk = chunk or chunk_tokens(weight.shape[0])
    want_grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return _LinearCrossEntropySum.apply(h, weight, targets.reshape(-1), chunk, want_grad)


class OutputHead(nn.Linear):
    """The output projection. Without targets: logits. With targets: the summed loss."""

    def forward(self, h: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            return super().forward(h)
        return linear_cross_entropy(h, self.weight, targets)
