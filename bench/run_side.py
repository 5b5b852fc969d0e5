"""One contestant of bench/compare.py in its own process(es), so that peak memory is its own:
builds the model (bench/sides.py), runs warm-up then timed steps on the trainer's batches
(generated before timing), and prints one line `BENCH-RESULT {json}` from rank 0 with tokens/s
and the peak RSS of every rank. Started by compare.py, alone or under torchrun.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sides import BUILDERS, SIDES

from trainer import batches, config, distributed, tokenizer

MARK = "BENCH-RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", required=True, choices=SIDES)
    p.add_argument("--preset", default="small")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--vocab", type=int, default=None, help="default: the preset's")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=4, help="global sequences per optimizer step")
    p.add_argument("--micro-batch", type=int, default=2, help="sequences per forward and rank")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads per rank")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def bench_config(a: argparse.Namespace) -> config.TrainConfig:
    overrides = {
        "seq_len": a.seq_len,
        "global_batch_size": a.batch,
        "micro_batch_size": a.micro_batch,
        "max_steps": a.warmup + a.steps,
        "seed": a.seed,
        "parallel.mixed_precision": "fp32",
    }
    if a.layers:
        overrides["model.n_layers"] = a.layers
    if getattr(a, "vocab", None):  # compare_hf.py has no --vocab
        overrides["model.vocab_size"] = a.vocab
    return config.build(a.preset, overrides)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    cfg = bench_config(a)
    d = distributed.init(cfg.parallel.timeout_s, device="cpu")
    cfg.check_world(d.world_size)
    tok = tokenizer.load(cfg.data.tokenizer)
    batches.check_vocab(cfg, tok)
    data = batches.ShardedBatches(cfg, tok, d.rank, d.world_size)
    steps = [data.next_step() for _ in range(a.warmup + a.steps)]
    torch.manual_seed(cfg.seed)
    step, n_params, peer = BUILDERS[a.side](cfg, d)
    for mbs in steps[: a.warmup]:
        step(mbs)
    torch.distributed.barrier()
    t0 = time.perf_counter()
    for mbs in steps[a.warmup :]:
        step(mbs)
    torch.distributed.barrier()  # every rank done: the step time is the slowest rank's
    seconds = time.perf_counter() - t0
    rss = torch.tensor([peak_rss_bytes()], dtype=torch.int64)
    gathered = [torch.zeros_like(rss) for _ in range(d.world_size)]
    torch.distributed.all_gather(gathered, rss)
    if d.rank == 0:
        out = {
            "side": a.side,
            "peer": peer,
            "world_size": d.world_size,
            "threads": torch.get_num_threads(),
            "parameters": n_params,
            "vocab": cfg.model.vocab_size,
            "tokens_per_s": cfg.global_batch_size * cfg.seq_len * a.steps / seconds,
            "seconds": seconds,
            "peak_rss_bytes_per_rank": [int(x.item()) for x in gathered],
            "pid": os.getpid(),
        }
        print(MARK + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        distributed.shutdown()
