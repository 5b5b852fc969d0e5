"""The fused loss's weight gradient (trainer/loss.py), accumulated over chunks in fp32, in place,
with no [vocab, dim] temporary per chunk.

- Same dtype (fp32 model): mm into the accumulator for the first chunk, addmm_ after.
- 16-bit on CUDA: the same with `out_dtype=torch.float32`, so the GEMM accumulates in fp32 and
  writes the fp32 accumulator directly (torch 2.13's `torch.addmm` documents out_dtype for
  CUDA, fp32 from fp16/bf16 inputs; Liger-Kernel's fused linear cross-entropy accumulates its
  weight gradient this way).
- 16-bit elsewhere (the CPU build has no out_dtype kernel: aten::addmm.dtype_out is registered
  for CUDA and XPU only in torch 2.13's native_functions.yaml): slices of the vocabulary
  upcast to fp32, each an fp32 GEMM into its rows of the accumulator, the scratch bounded as
  the elementwise pass's.
"""

from __future__ import annotations

import torch

from .loss_chunks import SCRATCH_ELEMENTS

_HALF = (torch.bfloat16, torch.float16)
_out_dtype_refused: set[str] = set()  # device types whose out_dtype kernels raised once


def _out_dtype_kernel(g: torch.Tensor) -> bool:
    return g.device.type in ("cuda", "xpu") and g.device.type not in _out_dtype_refused


def add_weight_grad(acc: torch.Tensor, g: torch.Tensor, h: torch.Tensor, first: bool) -> None:
    """acc (fp32 [vocab, dim]) = g.T @ h if first, else acc + g.T @ h. g: [rows, vocab]."""
    gt = g.t()
    if g.dtype == acc.dtype:
        if first:
            torch.mm(gt, h, out=acc)
        else:
            acc.addmm_(gt, h)
        return
    if g.dtype in _HALF and _out_dtype_kernel(g):
        try:
            if first:
                torch.mm(gt, h, out_dtype=torch.float32, out=acc)
            else:
                torch.addmm(acc, gt, h, out_dtype=torch.float32, out=acc)
            return
        except (RuntimeError, NotImplementedError):
            # Argument checks run before the GEMM, so acc is untouched: take the slices.
            _out_dtype_refused.add(g.device.type)
    # The upcast slice is no larger than the elementwise pass's scratch for this chunk.
    rows = max(1, min(SCRATCH_ELEMENTS, g.numel()) // max(1, h.shape[0]))
    h32 = h.float()
    for v in range(0, gt.shape[0], rows):
        part = gt[v : v + rows].float()
        if first:
            torch.mm(part, h32, out=acc[v : v + rows])
        else:
            acc[v : v + rows].addmm_(part, h32)
