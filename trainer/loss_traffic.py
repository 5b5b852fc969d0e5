"""A model of the bytes the fused loss (trainer/loss.py) moves through device memory, per chunk and
per micro-batch, before issue 24 and after, to size chunks by it. Pure arithmetic: every kernel
is assumed to read its inputs and write its outputs once (caches ignored, so small [tokens, dim]
terms count too). bench/loss_traffic.py prints it for Llama 3 shapes on an H100.

- "before": chunks of 2^24 logits (130 tokens at 128k); per chunk the logits in the compute
  dtype, an fp32 copy, eager passes over it (amax, sub_, exp_, sum, mul_, the cast back),
  the [vocab, dim] weight gradient as a compute-dtype temporary added into the fp32
  accumulator; the accumulator cast to the weight's dtype once per micro-batch.
- "after": chunks of `loss.chunk_tokens`; logits in the compute dtype, one compiled pass that
  reads them twice (max, then sum of exponentials with the gradient written over them: an
  online softmax would read once), the weight gradient added by the GEMM into the fp32
  accumulator (out_dtype), the same cast once per micro-batch.
"""

from __future__ import annotations

DESIGNS = ("before", "after")


def chunk_bytes(
    rows: int, vocab: int, dim: int, itemsize: int, design: str, first: bool = False
) -> dict[str, int]:
    """Bytes one chunk of `rows` tokens moves, by term. itemsize: the compute dtype's (2: bf16)."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    s, t, v, d = itemsize, rows, vocab, dim
    weight, logits, hidden, acc = s * v * d, t * v, s * t * d, 4 * v * d
    out = {
        # logits = h @ W.T; grad_h = g @ W; grad_W += g.T @ h: W read by two, h read by two
        # and grad_h written.
        "weight_reads": 2 * weight,
        "hidden": 3 * hidden,
        "logits_matmuls": s * logits * 3,  # logits written once, g read by the two GEMMs
    }
    # The fp32 accumulator: written by the first chunk, read and written by every other.
    out["accumulator"] = acc if first else 2 * acc
    if design == "before":
        # Eager passes: amax (read 4), sub_ and exp_ (read and write 4 each), sum (4), mul_
        # (8); in 16-bit also .float() (read s, write 4) and .to(dtype) (read 4, write s).
        upcast = 0 if s == 4 else 2 * s + 8
        out["elementwise"] = (32 + upcast) * logits
        # In 16-bit the [vocab, dim] product is a compute-dtype temporary, written then read
        # by the add into the accumulator (fp32's addmm_ accumulates in the GEMM).
        out["weight_grad_temporary"] = 0 if s == 4 else 2 * weight
    else:
        # Compiled: read the logits twice, write the gradient once, in the compute dtype.
        out["elementwise"] = 3 * s * logits
        out["weight_grad_temporary"] = 0
    return out


def micro_batch_bytes(
    tokens: int, vocab: int, dim: int, itemsize: int, chunk: int, design: str
) -> dict[str, int]:
    """Bytes per micro-batch of `tokens`, by term, plus "chunks" (the count) and "total"."""
    out: dict[str, int] = {}
    n = 0
    for start in range(0, tokens, chunk):
        rows = min(chunk, tokens - start)
        for k, b in chunk_bytes(rows, vocab, dim, itemsize, design, first=start == 0).items():
            out[k] = out.get(k, 0) + b
        n += 1
    # The fp32 accumulator cast to the weight's dtype, once (nothing to cast in fp32).
    out["final_cast"] = 0 if itemsize == 4 else (4 + itemsize) * vocab * dim
    out["total"] = sum(out.values())
    out["chunks"] = n
    return out


def flops(tokens: int, vocab: int, dim: int) -> int:
    """The three GEMMs of the loss: 2 x tokens x vocab x dim each."""
    return 6 * tokens * vocab * dim
