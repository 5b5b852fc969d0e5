"""The fused loss's device-memory traffic before and after issue 24 (trainer/loss_traffic.py) for
Llama 3 shapes at 8192-token micro-batches in bf16, with what it costs on one H100 SXM: the
bytes at its memory bandwidth next to the loss's three GEMMs at its dense bf16 peak. A model,
not a measurement; bench/gpu.py measures a real step.

    python bench/loss_traffic.py [--tokens 8192]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import loss_traffic
from trainer.loss import chunk_tokens

VOCAB = 128256
SHAPES = {"llama3-1b": 2048, "llama3-8b": 4096}  # dim (trainer/train_config.py presets)
OLD_CHUNK_ELEMENTS = 1 << 24  # the chunk before issue 24: 2^24 logits
# NVIDIA H100 SXM5 datasheet: 3.35 TB/s HBM3; bf16 tensor core 1,979 TFLOPS with sparsity,
# half that dense.
H100_BYTES_PER_S = 3.35e12
H100_BF16_FLOPS = 989.5e12
BF16 = 2


def rows(tokens: int) -> list[dict]:
    out = []
    for name, dim in SHAPES.items():
        for design in loss_traffic.DESIGNS:
            if design == "before":
                chunk = max(1, OLD_CHUNK_ELEMENTS // VOCAB)
            else:
                chunk = chunk_tokens(tokens, VOCAB, dim, BF16)
            per_mb = loss_traffic.micro_batch_bytes(tokens, VOCAB, dim, BF16, chunk, design)
            one = loss_traffic.chunk_bytes(chunk, VOCAB, dim, BF16, design)
            out.append(
                {
                    "model": name,
                    "design": design,
                    "chunk_tokens": chunk,
                    "chunks": per_mb["chunks"],
                    "chunk_gb": sum(one.values()) / 1e9,
                    "chunk_weight_terms_gb": (
                        one["weight_reads"] + one["weight_grad_temporary"] + one["accumulator"]
                    )
                    / 1e9,
                    "micro_batch_gb": per_mb["total"] / 1e9,
                    "memory_ms": per_mb["total"] / H100_BYTES_PER_S * 1e3,
                    "gemm_ms": loss_traffic.flops(tokens, VOCAB, dim) / H100_BF16_FLOPS * 1e3,
                }
            )
    return out


def table(rs: list[dict]) -> str:
    head = (
        "| model | design | tokens/chunk | chunks | GB/chunk (of which weight, grad, acc) "
        "| GB/micro-batch | H100 ms at 3.35 TB/s | GEMM ms at 989 TFLOPS |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rs:
        lines.append(
            f"| {r['model']} | {r['design']} | {r['chunk_tokens']} | {r['chunks']} "
            f"| {r['chunk_gb']:.2f} ({r['chunk_weight_terms_gb']:.2f}) "
            f"| {r['micro_batch_gb']:.0f} | {r['memory_ms']:.0f} | {r['gemm_ms']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=8192, help="tokens per micro-batch and GPU")
    a = p.parse_args(argv)
    print(table(rows(a.tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
