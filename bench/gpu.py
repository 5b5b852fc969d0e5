"""llama3-1b on one GPU in bf16 with the trainer's default settings (the `llama3-1b` preset:
Llama 3.2 1B's shape, as meta-llama/Llama-3.2-1B's config.json gives it): prints tokens/s, MFU
against the datasheet peak (trainer.metrics.PEAK_TFLOPS) and peak memory
(torch.cuda.max_memory_allocated). Exits 2 with a message when no GPU is present.

    python bench/gpu.py [--steps 10] [--warmup 3] [--micro-batch N] [--seq-len T]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NO_GPU_EXIT = 2
NO_GPU = "bench/gpu.py: no CUDA GPU visible (torch.cuda.is_available() is False); nothing measured"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--micro-batch", type=int, default=None, help="default: the preset's")
    p.add_argument("--seq-len", type=int, default=None, help="default: the preset's")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return NO_GPU_EXIT
    from trainer import batches, config, distributed, metrics, tokenizer
    from trainer.model import flops_per_token
    from trainer.train import build_model, build_optimizer, train_step

    overrides = {"max_steps": a.warmup + a.steps}
    if a.seq_len:
        overrides["seq_len"] = a.seq_len
    if a.micro_batch:
        overrides["micro_batch_size"] = a.micro_batch
    cfg = config.build("llama3-1b", overrides)
    d = distributed.init(cfg.parallel.timeout_s, device="cuda")
    tok = tokenizer.load(cfg.data.tokenizer)
    batches.check_vocab(cfg, tok)
    data = batches.ShardedBatches(cfg, tok, d.rank, d.world_size)
    steps = [data.next_step() for _ in range(a.warmup + a.steps)]
    model = build_model(cfg, d)
    opt, sched = build_optimizer(model, cfg, d.device)
    for i, mbs in enumerate(steps[: a.warmup]):
        train_step(model, opt, mbs, cfg, d, i + 1)
        sched.step()
    torch.cuda.synchronize(d.device)
    torch.cuda.reset_peak_memory_stats(d.device)
    t0 = time.perf_counter()
    for i, mbs in enumerate(steps[a.warmup :]):
        train_step(model, opt, mbs, cfg, d, a.warmup + i + 1)
        sched.step()
    torch.cuda.synchronize(d.device)
    seconds = time.perf_counter() - t0
    tps = cfg.global_batch_size * cfg.seq_len * a.steps / seconds
    peak, source = metrics.peak_tflops(d.device, cfg.metrics.peak_tflops, bf16=True)
    tflops = flops_per_token(cfg.model, cfg.seq_len) * tps / 1e12
    print(
        f"llama3-1b on {torch.cuda.get_device_name(d.device)}, bf16, seq {cfg.seq_len}, "
        f"batch {cfg.global_batch_size}: {tps:,.0f} tokens/s, {tflops:.1f} TFLOP/s, "
        f"MFU {100 * tflops / peak:.1f}% of {peak:g} TFLOP/s ({source}), peak memory "
        f"{torch.cuda.max_memory_allocated(d.device) / 2**30:.2f} GiB"
    )
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
