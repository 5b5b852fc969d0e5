"""The elementwise part of a chunk of the fused loss (trainer/loss.py): from a chunk's logits, the
sum of its cross-entropy losses, and, when gradients are wanted, d sum / d logits (softmax minus
one-hot, ignored rows zero) written over the logits, in their own dtype.

The math runs in fp32 whatever the logits' dtype, as `F.cross_entropy(logits.float(), ...)`.
Two forms of it: an eager one that works in place (16-bit logits through an fp32 scratch of
bounded rows, so a chunk needs no second chunk-sized buffer), and a compiled one written
out-of-place so inductor fuses it into a few kernels that read the logits and write the gradient
once (`softmax_grad_compiled_`).
"""

from __future__ import annotations

import torch

from .loss_chunks import scratch_rows

IGNORE_INDEX = -100  # as F.cross_entropy


def _fp32_in_place(x: torch.Tensor, targets: torch.Tensor, want_grad: bool) -> torch.Tensor:
    """x: fp32 [rows, vocab], overwritten: with the gradient if want_grad, else garbage."""
    keep = targets != IGNORE_INDEX
    safe = targets.clamp(min=0).unsqueeze(1)
    picked = x.gather(1, safe).squeeze(1)
    # log-sum-exp by hand, in place: torch.logsumexp would allocate a second buffer.
    top = x.amax(dim=-1, keepdim=True)
    e = x.sub_(top).exp_()
    total = e.sum(dim=-1)
    loss = torch.where(keep, top.squeeze(1) + total.log() - picked, 0.0).sum()
    if want_grad:
        # Softmax in the same buffer, with ignored rows zeroed by the same pass; minus one-hot.
        e.mul_(torch.where(keep, total.reciprocal(), 0.0)[:, None])
        e.scatter_add_(1, safe, -keep.to(e.dtype).unsqueeze(1))
    return loss


def softmax_grad_(logits: torch.Tensor, targets: torch.Tensor, want_grad: bool) -> torch.Tensor:
    """The chunk's loss sum (fp32 scalar); logits: [rows, vocab], overwritten with the gradient
    if want_grad."""
    if logits.dtype == torch.float32:
        return _fp32_in_place(logits, targets, want_grad)
    rows = scratch_rows(logits.shape[1])
    scratch = torch.empty((min(rows, logits.shape[0]), logits.shape[1]), device=logits.device)
    total = torch.zeros((), dtype=torch.float32, device=logits.device)
    for s in range(0, logits.shape[0], rows):
        part = logits[s : s + rows]
        x = scratch[: part.shape[0]].copy_(part)
        total += _fp32_in_place(x, targets[s : s + rows], want_grad)
        if want_grad:
            part.copy_(x)  # rounded once to the logits' dtype
    return total


def _fused(logits: torch.Tensor, targets: torch.Tensor, want_grad: bool) -> torch.Tensor:
    """softmax_grad_'s math out-of-place, for inductor: the one-hot as a comparison with column
    indices (pointwise, so it fuses) rather than a scatter."""
    x = logits.float()
    keep = targets != IGNORE_INDEX
    safe = targets.clamp(min=0).unsqueeze(1)
    top = x.amax(dim=-1, keepdim=True)
    e = (x - top).exp()
    total = e.sum(dim=-1)
    picked = x.gather(1, safe).squeeze(1)
    loss = torch.where(keep, top.squeeze(1) + total.log() - picked, 0.0).sum()
    if want_grad:
        cols = torch.arange(x.shape[1], device=x.device)
        hit = (cols.unsqueeze(0) == safe) & keep.unsqueeze(1)
        g = e * torch.where(keep, total.reciprocal(), 0.0).unsqueeze(1) - hit.to(x.dtype)
        logits.copy_(g)
    return loss


_compiled = None


def softmax_grad_compiled_(
    logits: torch.Tensor, targets: torch.Tensor, want_grad: bool
) -> torch.Tensor:
    """softmax_grad_ through torch.compile (built on first use)."""
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(_fused)
    return _compiled(logits, targets, want_grad)
