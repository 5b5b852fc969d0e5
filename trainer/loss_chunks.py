"""How the fused loss (trainer/loss.py) splits a micro-batch into chunks, without torch, so the
memory model (trainer/memory_model.py) and the traffic model use the rule the loss runs.

Chunks are sized by work: as large as the memory budget allows, so that a chunk's three
matmuls are bound by compute, not by re-reading the [vocab, dim] weight and its fp32 gradient
for every few hundred tokens (bench/loss_traffic.py prints the bytes moved).
"""

from __future__ import annotations

# The fixed chunk before chunks were sized by work, 2^24 fp32 logits (64 MiB): now the floor of
# a chunk's budget, and still the chunk in fp32.
CHUNK_ELEMENTS = 1 << 24

# The fp32 scratch of the 16-bit eager elementwise pass (trainer/loss_elementwise.py) and of the
# weight gradient's CPU fallback (trainer/loss_weight_grad.py): at most this many elements.
SCRATCH_ELEMENTS = 1 << 24


def scratch_rows(vocab: int) -> int:
    return max(1, SCRATCH_ELEMENTS // vocab)


def chunk_budget_bytes(vocab: int, dim: int, itemsize: int) -> int:
    """The bytes a chunk's buffers may take: its [chunk, vocab] logits in the compute dtype (the
    gradient is written over them) plus, in 16-bit, the fp32 scratch.

    The budget keeps the loss's peak where it was before chunks were sized by work: one
    2^24-element fp32 logits chunk, and in 16-bit the weight gradient's copy rounded to the
    weight's dtype (vocab x dim x itemsize), which was alive beside the fp32 accumulator for
    an instant. Backward may still make that copy (a tied or fp32-reduced head does), so the
    same bytes are the chunk's."""
    return max(4 * CHUNK_ELEMENTS, vocab * dim * itemsize if itemsize < 4 else 0)


def chunk_tokens(tokens: int, vocab: int, dim: int, itemsize: int) -> int:
    """Tokens per chunk: the most whose buffers fit `chunk_budget_bytes`, then evened out so the
    chunks of a micro-batch are the same size (the last one no larger). itemsize: the weight's
    (and compute) dtype's.

    In bf16 at Llama 3's 128k vocabulary that is about 1800 tokens at dim 2048 and 3800 at dim
    4096: an 8192-token micro-batch is 5 or 3 chunks, where torchtitan's chunked loss takes 8
    (ChunkedLossWrapper's num_chunks, pytorch/torchtitan@b5bcd76
    torchtitan/components/loss.py). In fp32 (CPU, T4) chunks stay 2^24 logits: on one rank
    the loss's forward of a second micro-batch is the step's peak (FSDP2 keeps the first one's
    unsharded gradients), and a larger fp32 chunk raises it by its growth (bench/compare.py's
    vocab 128k run measured +368 MiB for 512-token chunks at dim 512).
    """
    budget = chunk_budget_bytes(vocab, dim, itemsize)
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
