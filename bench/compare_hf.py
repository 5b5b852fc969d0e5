"""Trainstack vs Hugging Face `LlamaForCausalLM`: same shape, FSDP2 on both, same batches, same
optimizer, timed in one run on this machine, against this machine's measured matmul peak.

    python bench/compare_hf.py [--preset small] [--layers N] [--seq-len T] [--batch B]
                               [--steps N] [--warmup N] [--json out.json]

Trainstack side: the trainer's own code path (`build_model`: meta device, `parallelize`,
`to_empty`, `init_weights`; `build_optimizer`; the real `train_step`). Hugging Face side: a
`LlamaForCausalLM` of exactly the same shape (checked parameter by parameter), FSDP2
`fully_shard` on each decoder layer and on the root over the same one-rank gloo mesh, the same
AdamW settings (`build_optimizer`), the same micro-batches and gradient accumulation, the same
clipping, its own loss from `labels`. Steps alternate between the two models (the order flips
every step) so that drift in the machine's speed hits both alike. Both use `flops_per_token` from
trainer.model for TFLOP/s and MFU.

By default the Hugging Face model starts from the trainstack model's initial weights, so the two
first-step losses must agree (they differ only in that the Hugging Face loss leaves out each
sequence's last target: it shifts `labels` itself); `--own-init` keeps each side's own init.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

# Threads must be fixed before torch runs any parallel work, so parse them first.
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--threads", type=int, default=0)
_n = _pre.parse_known_args()[0].threads or len(os.sched_getaffinity(0))
torch.set_num_threads(_n)
torch.set_num_interop_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# bench/ is the script's directory (sys.path[0]): its helper modules import by their bare names.
from figures import summarise, table  # noqa: E402
from hf_llama import build_hf, copy_weights, hf_train_step, shard_hf  # noqa: E402
from run_side import bench_config  # noqa: E402

from trainer import batches, config, distributed, metrics, tokenizer  # noqa: E402
from trainer.model import flops_per_token  # noqa: E402
from trainer.train import build_model, build_optimizer, train_step  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", default="small", choices=list(config.PRESETS))
    p.add_argument("--layers", type=int, default=None, help="default: the preset's")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=4, help="sequences per optimizer step")
    p.add_argument("--micro-batch", type=int, default=2, help="sequences per forward")
    p.add_argument("--steps", type=int, default=20, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    p.add_argument("--threads", type=int, default=0, help="default: the usable CPU cores")
    p.add_argument(
        "--peak-seconds", type=float, default=2.0, help="length of each matmul peak measurement"
    )
    p.add_argument(
        "--own-init",
        action="store_true",
        help="keep Hugging Face's own initialisation instead of trainstack's weights",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures here")
    return p.parse_args()


def repro_command(a: argparse.Namespace, layers: int) -> str:
    repo = Path(__file__).resolve().parent.parent
    exe = Path(sys.executable)
    python = str(exe.relative_to(repo)) if exe.is_relative_to(repo) else sys.executable
    argv = [
        python,
        "bench/compare_hf.py",
        "--preset",
        a.preset,
        "--layers",
        str(layers),
        "--seq-len",
        str(a.seq_len),
        "--batch",
        str(a.batch),
        "--micro-batch",
        str(a.micro_batch),
        "--steps",
        str(a.steps),
        "--warmup",
        str(a.warmup),
        "--threads",
        str(torch.get_num_threads()),
        "--peak-seconds",
        str(a.peak_seconds),
        "--seed",
        str(a.seed),
    ]
    if a.own_init:
        argv.append("--own-init")
    if a.json:
        argv += ["--json", a.json]
    return shlex.join(argv)


def main() -> int:
    a = parse_args()
    if a.batch % a.micro_batch:
        raise SystemExit(
            f"compare_hf: --batch {a.batch} is not a multiple of --micro-batch {a.micro_batch}"
        )
    cfg = bench_config(a)
    d = distributed.init(cfg.parallel.timeout_s, device="cpu")
    cfg.check_world(d.world_size)
    threads = torch.get_num_threads()
    print(
        f"compare_hf: torch {torch.__version__}, python {platform.python_version()}, "
        f"{platform.processor() or platform.machine()}, "
        f"{threads} intra-op thread(s), {torch.get_num_interop_threads()} inter-op thread(s) "
        f"(same for both models), {d.world_size} rank(s) on {d.device.type} "
        f"({torch.distributed.get_backend()})",
        flush=True,
    )

    peak_start = metrics.measured_matmul_tflops(d.device, a.peak_seconds)
    print(f"compare_hf: measured matmul peak at start: {peak_start:.4f} TFLOP/s", flush=True)

    torch.manual_seed(cfg.seed)
    ts = build_model(cfg, d)
    ts_opt, ts_sched = build_optimizer(ts, cfg, d.device)

    hf, hf_version = build_hf(cfg)
    n_ts, n_hf = ts.num_params(), hf.num_parameters()
    if not a.own_init:
        copy_weights(ts, hf)
    shard_hf(hf, cfg, d)
    hf_opt, hf_sched = build_optimizer(hf, cfg, d.device)
    print(
        f"compare_hf: transformers {hf_version}; parameters: trainstack {n_ts:,}, "
        f"Hugging Face {n_hf:,} ({'match' if n_ts == n_hf else 'MISMATCH'}); init: "
        f"{'each its own' if a.own_init else 'trainstack weights copied into both'}",
        flush=True,
    )
    if n_ts != n_hf:
        raise SystemExit("compare_hf: parameter counts differ; the shapes are not the same")

    # The trainer's data path (synthetic stories, byte tokenizer), generated before timing so
    # both models get the very same batches and no data time is counted.
    tok = tokenizer.load(cfg.data.tokenizer)
    batches.check_vocab(cfg, tok)
    data = batches.ShardedBatches(cfg, tok, d.rank, d.world_size)
    steps = [data.next_step() for _ in range(a.warmup + a.steps)]
    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    fpt = flops_per_token(cfg.model, cfg.seq_len)
    accum = cfg.grad_accum_steps(d.world_size)
    print(
        f"compare_hf: preset {cfg.preset}, dim {cfg.model.dim}, {cfg.model.n_layers} layers, "
        f"{cfg.model.n_heads} heads / {cfg.model.n_kv_heads} kv heads, ffn "
        f"{cfg.model.ffn_hidden}, vocab {cfg.model.vocab_size}, tied "
        f"{cfg.model.tie_embeddings}; batch {cfg.global_batch_size} x {cfg.seq_len} tokens "
        f"({accum} micro-batch(es) of {cfg.micro_batch_size}); {a.warmup} warm-up + "
        f"{a.steps} timed steps each, alternating; {fpt / 1e6:.1f} MFLOP/token",
        flush=True,
    )

    def run_ts(step: int, mb) -> float:
        loss, _ = train_step(ts, ts_opt, mb, cfg, d, step)
        ts_sched.step()
        return loss

    def run_hf(step: int, mb) -> float:
        loss, _ = hf_train_step(hf, hf_opt, mb, cfg, d)
        hf_sched.step()
        return loss

    sides = {"trainstack": run_ts, "hf": run_hf}
    all_times = {k: [] for k in sides}
    losses = {k: [] for k in sides}
    started = time.perf_counter()
    for i, mb in enumerate(steps):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for name in order:
            t0 = time.perf_counter()
            loss = sides[name](i + 1, mb)
            all_times[name].append(time.perf_counter() - t0)
            losses[name].append(loss)
        tag = "warm-up" if i < a.warmup else "timed"
        print(
            f"  step {i + 1:>3} {tag:<7} first {order[0]:<10} | trainstack "
            f"{all_times['trainstack'][-1]:6.2f} s loss {losses['trainstack'][-1]:.4f} | "
            f"HF {all_times['hf'][-1]:6.2f} s loss {losses['hf'][-1]:.4f}",
            flush=True,
        )
    times = {k: v[a.warmup :] for k, v in all_times.items()}
    bench_s = time.perf_counter() - started

    peak_end = metrics.measured_matmul_tflops(d.device, a.peak_seconds)
    peak = max(peak_start, peak_end)
    print(
        f"compare_hf: measured matmul peak at end: {peak_end:.4f} TFLOP/s; using the max "
        f"{peak:.4f} TFLOP/s",
        flush=True,
    )

    res = {k: summarise(times[k], losses[k][a.warmup :], tokens_per_step, fpt, peak) for k in sides}
    for k in sides:
        res[k]["loss_step1"] = losses[k][0]
    t, h = res["trainstack"], res["hf"]
    rows = [
        ("", "trainstack", f"HF transformers {hf_version}"),
        ("parameters", f"{n_ts:,}", f"{n_hf:,}"),
        ("step time mean (s)", f"{t['step_time_mean_s']:.3f}", f"{h['step_time_mean_s']:.3f}"),
        (
            "step time median (s)",
            f"{t['step_time_median_s']:.3f}",
            f"{h['step_time_median_s']:.3f}",
        ),
        (
            "step time min..max (s)",
            f"{t['step_time_min_s']:.3f}..{t['step_time_max_s']:.3f}",
            f"{h['step_time_min_s']:.3f}..{h['step_time_max_s']:.3f}",
        ),
        ("tokens/s", f"{t['tokens_per_s']:,.1f}", f"{h['tokens_per_s']:,.1f}"),
        (
            "tokens/s (median step)",
            f"{t['tokens_per_s_median_step']:,.1f}",
            f"{h['tokens_per_s_median_step']:,.1f}",
        ),
        ("achieved TFLOP/s", f"{t['tflops']:.4f}", f"{h['tflops']:.4f}"),
        ("MFU (of measured peak)", f"{100 * t['mfu']:.1f}%", f"{100 * h['mfu']:.1f}%"),
        ("loss step 1", f"{t['loss_step1']:.4f}", f"{h['loss_step1']:.4f}"),
        (
            "loss first..last timed",
            f"{t['loss_first']:.4f}..{t['loss_last']:.4f}",
            f"{h['loss_first']:.4f}..{h['loss_last']:.4f}",
        ),
    ]
    ratio = t["tokens_per_s"] / h["tokens_per_s"]
    print()
    print(table(rows))
    print()
    print(
        f"matmul peak (measured, {threads} threads): start {peak_start:.4f}, end "
        f"{peak_end:.4f}, used {peak:.4f} TFLOP/s"
    )
    ratio_med = t["tokens_per_s_median_step"] / h["tokens_per_s_median_step"]
    print(f"trainstack / HF tokens/s:  {ratio:.3f} (median steps: {ratio_med:.3f})")
    print(
        f"achieved / peak:           trainstack {t['tflops'] / peak:.3f}, "
        f"HF {h['tflops'] / peak:.3f}"
    )
    print(f"timed loop: {bench_s:.1f} s wall for both models")
    cmd = repro_command(a, cfg.model.n_layers)
    print(f"reproduce (from the repository root): {cmd}")

    ok = all(math.isfinite(x) for k in sides for x in losses[k])
    falling = all(losses[k][-1] < losses[k][0] for k in sides)
    if not ok or not falling:
        print("compare_hf: WARNING: a loss is non-finite or did not fall", flush=True)

    if a.json:
        out = {
            "command": cmd,
            "torch": torch.__version__,
            "transformers": hf_version,
            "threads": threads,
            "interop_threads": torch.get_num_interop_threads(),
            "preset": cfg.preset,
            "model": cfg.model.model_dump(mode="json"),
            "seq_len": cfg.seq_len,
            "global_batch_size": cfg.global_batch_size,
            "micro_batch_size": cfg.micro_batch_size,
            "warmup_steps": a.warmup,
            "timed_steps": a.steps,
            "tokens_per_step": tokens_per_step,
            "flops_per_token": fpt,
            "parameters": {"trainstack": n_ts, "hf": n_hf},
            "peak_tflops": {"start": peak_start, "end": peak_end, "used": peak},
            "trainstack": t,
            "hf": h,
            "ratio_tokens_per_s_trainstack_over_hf": ratio,
            "ratio_median_step_trainstack_over_hf": ratio_med,
            "achieved_over_peak": {"trainstack": t["tflops"] / peak, "hf": h["tflops"] / peak},
            "step_times_s_all_steps": all_times,
            "losses_all_steps": losses,
        }
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1))
        print(f"figures: {a.json}")
    return 0 if ok else 3


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        distributed.shutdown()
