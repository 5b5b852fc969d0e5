"""Output projection fused with cross-entropy, chunk by chunk over tokens.

The plain path materialises the full [tokens, vocab] logits, an fp32 copy of them, the
log-softmax of the same size for backward, and its gradient: at Llama 3's 128k vocabulary the
largest tensors of the step. Here the logits exist for one chunk of tokens at a time, in fp32;
forward keeps only each token's log-sum-exp, and backward recomputes the chunk's logits to form
the gradient (softmax minus one-hot) and multiplies it straight into the hidden-state and weight
gradients. Peak extra memory is a few chunks of logits instead of a few full copies.

`OutputHead` is the model's `output` Linear (same parameter name, so checkpoints load): called
with targets it returns per-token losses, so under FSDP2 its own forward hooks gather the
(sharded) weight exactly as for the logits path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100  # as F.cross_entropy

# Logit elements per chunk (fp32: 256 MiB). 523 tokens at a 128k vocabulary, 2048 at 32k:
# still large matmuls for a GPU, and a bounded buffer whatever the batch.
CHUNK_ELEMENTS = 1 << 26


def chunk_tokens(vocab_size: int, elements: int = CHUNK_ELEMENTS) -> int:
    return max(1, elements // vocab_size)


class _LinearCrossEntropy(torch.autograd.Function):
    """losses[i] = logsumexp(h[i] @ W.T) - (h[i] @ W.T)[targets[i]], 0 where ignored."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk: int):
        n = h.shape[0]
        losses = torch.empty(n, dtype=torch.float32, device=h.device)
        lse = torch.empty(n, dtype=torch.float32, device=h.device)
        for s in range(0, n, chunk):
            # Matmul in the compute dtype (bf16 on GPU, as the Linear would), softmax in fp32.
            logits = F.linear(h[s : s + chunk], weight).float()
            tgt = targets[s : s + chunk]
            keep = tgt != IGNORE_INDEX
            picked = logits.gather(1, tgt.clamp(min=0).unsqueeze(1)).squeeze(1)
            lse_c = torch.logsumexp(logits, dim=-1)
            lse[s : s + chunk] = lse_c
            losses[s : s + chunk] = torch.where(keep, lse_c - picked, 0.0)
        ctx.save_for_backward(h, weight, targets, lse)
        ctx.chunk = chunk
        return losses

    @staticmethod
    def backward(ctx, grad_losses):
        h, weight, targets, lse = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(h) if need_h else None
        # Accumulated over chunks in fp32, cast once (the one-matmul path rounds once too).
        grad_w = None
        if need_w:
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        chunk = ctx.chunk
        for s in range(0, h.shape[0], chunk):
            h_c, tgt = h[s : s + chunk], targets[s : s + chunk]
            logits = F.linear(h_c, weight).float()
            # d loss / d logits = softmax - one_hot(target), scaled by the incoming gradient.
            g = logits.sub_(lse[s : s + chunk, None]).exp_()
            keep = tgt != IGNORE_INDEX
            rows = torch.arange(g.shape[0], device=g.device)
            g[rows, tgt.clamp(min=0)] -= 1.0
            g.mul_(torch.where(keep, grad_losses[s : s + chunk], 0.0)[:, None])
            g = g.to(h.dtype)
            if need_h:
                grad_h[s : s + chunk] = g @ weight
            if need_w and g.dtype == torch.float32:
                grad_w.addmm_(g.t(), h_c)  # no [vocab, dim] temporary per chunk
            elif need_w:
                grad_w.add_(g.t() @ h_c)  # bf16 product, fp32 sum over chunks
        return grad_h, grad_w.to(weight.dtype) if need_w else None, None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """Per-token fp32 losses of `F.cross_entropy(F.linear(h, weight).float(), targets,
    reduction="none")` without the full logits. h: [..., dim]; targets: [...]; returns [N]."""
    h = h.reshape(-1, h.shape[-1])
    chunk = chunk or chunk_tokens(weight.shape[0])
    return _LinearCrossEntropy.apply(h, weight, targets.reshape(-1), chunk)


class OutputHead(nn.Linear):
    """The output projection. Without targets: logits. With targets: per-token losses."""

    def forward(self, h: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        if targets is None:
            return super().forward(h)
        return linear_cross_entropy(h, self.weight, targets)
