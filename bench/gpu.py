"""llama3-1b on one GPU, set up as docs/trainer.md's 40% MFU target assumes: the `llama3-1b`
preset (Llama 3.2 1B's shape, as meta-llama/Llama-3.2-1B's config.json gives it), torch.compile
per block and selective activation checkpointing, in the precision the trainer picks for the GPU
(bf16 where it has bf16 tensor cores, else fp32). Prints the setup, tokens/s, TFLOP/s, MFU
against the GPU's dense peak (trainer/gpu_peaks.py by exact device name; else a measured matmul,
and it says so), a matmul rate measured here in the same precision beside that figure, and peak
memory (torch.cuda.max_memory_allocated). Exits 2 with a message when no GPU is present.

    python bench/gpu.py [--steps 10] [--warmup 3] [--micro-batch N] [--seq-len T]
                        [--activation-checkpointing selective|full|none] [--no-compile]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NO_GPU_EXIT = 2
NO_GPU = "bench/gpu.py: no CUDA GPU visible (torch.cuda.is_available() is False); nothing measured"
PRESET = "llama3-1b"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    p.add_argument("--micro-batch", type=int, default=None, help="default: the preset's")
    p.add_argument("--seq-len", type=int, default=None, help="default: the preset's")
    p.add_argument(
        "--activation-checkpointing",
        choices=("selective", "full", "none"),
        default="selective",
        help="parallel.activation_checkpointing (default selective, as the target assumes)",
    )
    p.add_argument("--no-compile", action="store_true", help="eager blocks (parallel.compile)")
    return p.parse_args(argv)


def overrides(a: argparse.Namespace) -> dict:
    """The config keys this bench sets on the preset."""
    out = {
        "max_steps": a.warmup + a.steps,
        "parallel.compile": not a.no_compile,
        "parallel.activation_checkpointing": a.activation_checkpointing,
    }
    if a.seq_len:
        out["seq_len"] = a.seq_len
    if a.micro_batch:
        out["micro_batch_size"] = a.micro_batch
    return out


@dataclass(frozen=True)
class Result:
    device: str
    params_m: float
    precision: str  # "bf16" or "fp32": what the trainer computes in on this GPU
    compiled: bool
    checkpointing: str
    seq_len: int
    micro_batch: int
    global_batch: int
    steps: int
    warmup: int
    seconds: float
    flops_per_token: float
    peak: float
    peak_source: str
    matmul_measured: float  # this GPU's best matmul rate in `precision`, measured here
    peak_mem_gib: float

    @property
    def tokens_per_s(self) -> float:
        return self.global_batch * self.seq_len * self.steps / self.seconds

    @property
    def tflops(self) -> float:
        return self.flops_per_token * self.tokens_per_s / 1e12


def report(r: Result) -> str:
    mfu = 100 * r.tflops / r.peak
    return "\n".join(
        [
            f"bench/gpu.py: {PRESET} ({r.params_m:,.1f}M parameters) on {r.device}, 1 GPU, "
            f"{r.precision}, {'torch.compile per block' if r.compiled else 'eager'}, "
            f"activation checkpointing {r.checkpointing}, seq {r.seq_len}, micro-batch "
            f"{r.micro_batch}, global batch {r.global_batch}",
            f"  {r.steps} timed steps after {r.warmup} warm-up: {r.seconds / r.steps:.2f} s/step, "
            f"{r.tokens_per_s:,.0f} tokens/s, {r.tflops:.1f} TFLOP/s "
            f"({r.flops_per_token / 1e9:.2f} GFLOP/token)",
            f"  MFU {mfu:.1f}% of {r.peak:g} TFLOP/s ({r.peak_source})",
            f"  {r.precision} matmul measured here: {r.matmul_measured:.1f} TFLOP/s "
            f"({100 * r.matmul_measured / r.peak:.0f}% of that peak; MFU against it "
            f"{100 * r.tflops / r.matmul_measured:.1f}%)",
            f"  peak memory {r.peak_mem_gib:.2f} GiB (torch.cuda.max_memory_allocated)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return NO_GPU_EXIT
    from trainer import batches, config, distributed, metrics, tokenizer
    from trainer.parallelize import uses_bf16
    from trainer.train import build_model, build_optimizer, train_step

    cfg = config.build(PRESET, overrides(a))
    d = distributed.init(cfg.parallel.timeout_s, device="cuda")
    bf16 = uses_bf16(cfg.parallel, d.device)  # the trainer's own choice for this GPU
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
    mem = torch.cuda.max_memory_allocated(d.device) / 2**30
    peak, source = metrics.peak_tflops(d.device, cfg.metrics.peak_tflops, bf16)
    dtype = torch.bfloat16 if bf16 else torch.float32
    measured = metrics.stable_peak_tflops(d.device, dtype=dtype)
    result = Result(
        device=torch.cuda.get_device_name(d.device),
        params_m=model.num_params() / 1e6,
        precision="bf16" if bf16 else "fp32",
        compiled=cfg.parallel.compile,
        checkpointing=a.activation_checkpointing,
        seq_len=cfg.seq_len,
        micro_batch=cfg.micro_batch_size,
        global_batch=cfg.global_batch_size,
        steps=a.steps,
        warmup=a.warmup,
        seconds=seconds,
        flops_per_token=model.flops_per_token(cfg.seq_len),
        peak=peak,
        peak_source=source,
        matmul_measured=measured,
        peak_mem_gib=mem,
    )
    print(report(result))
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
