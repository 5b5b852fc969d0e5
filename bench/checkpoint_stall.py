"""How long a checkpoint save stops the training step, blocking (`checkpoint.async_save=false`)
and asynchronous (trainer/checkpoint_async.py), on the `small` preset in one rank on this
machine's device. Prints, per mode, the time the training thread spends in the save call (the
stall), the time until the checkpoint is published, and the wall time of short training steps
with a save every few of them, against the same steps without saves.

    python bench/checkpoint_stall.py [--preset small] [--saves 5] [--interval 4] [--rounds 3]
        [--tokens 64]

The loop's steps are shorter than the preset's (`--tokens` per step instead of its global
batch), so that it runs in a minute on a CPU; the stall does not depend on the step's size.
An asynchronous save adds only its stall when its write fits in the interval; on a CPU the
write also competes with the step for the cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--saves", type=int, default=5, help="timed saves per mode")
    p.add_argument("--interval", type=int, default=4, help="steps between saves in the loop")
    p.add_argument("--rounds", type=int, default=3, help="saves per mode in the loop")
    p.add_argument("--tokens", type=int, default=64, help="tokens per step in the loop")
    p.add_argument("--dir", default=None, help="where checkpoints go (default: a temporary dir)")
    return p.parse_args(argv)


def _ms(seconds: list[float]) -> str:
    return f"{1e3 * statistics.median(seconds):8.1f} ms (min {1e3 * min(seconds):.1f})"


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    from trainer import checkpoint_async, config, distributed
    from trainer.train import build_model, build_optimizer

    cfg = config.build(a.preset, {})
    d = distributed.init(cfg.parallel.timeout_s)
    model = build_model(cfg, d)
    opt, _ = build_optimizer(model, cfg, d.device)
    vocab = cfg.model.vocab_size

    def step() -> None:
        tokens = torch.randint(0, vocab, (1, a.tokens + 1), device=d.device)
        model(tokens[:, :-1], tokens[:, 1:]).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if d.device.type == "cuda":
            torch.cuda.synchronize()

    step()  # the optimizer's state exists from here on
    gb = sum(t.numel() * t.element_size() for t in _tensors(model, opt)) / 1e9
    say = print if d.is_main else (lambda *_: None)
    say(
        f"checkpoint_stall: preset {a.preset}, {model.num_params() / 1e6:.1f}M parameters, "
        f"{gb:.2f} GB of model and optimizer state per rank, {d.world_size} rank(s) on "
        f"{d.device.type}, {torch.get_num_threads()} thread(s)"
    )
    # One directory for every rank (the checkpoint's), named by rank 0.
    made = [tempfile.mkdtemp(prefix="checkpoint-stall-", dir=a.dir) if d.is_main else None]
    torch.distributed.broadcast_object_list(made)
    root = made[0]
    savers = {
        "blocking": checkpoint_async.Saver(d.rank, d.device, 600, asynchronous=False),
        "async": checkpoint_async.Saver(d.rank, d.device, 600, asynchronous=True),
    }
    n = 0
    for mode, saver in savers.items():
        stall, total = [], []
        for i in range(a.saves + 1):  # the first (allocations, warm-up) is not counted
            n += 1
            t0 = time.perf_counter()
            saver.start(f"{root}/{mode}", n, model, opt, {"step": n}, keep=1)
            t1 = time.perf_counter()
            saver.wait()
            t2 = time.perf_counter()
            if i:
                stall.append(t1 - t0)
                total.append(t2 - t0)
        say(f"  {mode:8s} save: step stalled {_ms(stall)}, published after {_ms(total)}")

    # Training with a save every `interval` steps: what a save adds to the run's wall time,
    # the stall plus whatever the background write takes from the step (shared cores).
    wall = {}
    for mode in ("none", *savers):
        t0 = time.perf_counter()
        for i in range(a.rounds * a.interval):
            n += 1
            step()
            if mode != "none" and (i + 1) % a.interval == 0:
                savers[mode].start(f"{root}/{mode}", n, model, opt, {"step": n}, keep=1)
        if mode != "none":
            savers[mode].wait()
        wall[mode] = time.perf_counter() - t0
    steps = a.rounds * a.interval
    say(
        f"  {steps} steps of {a.tokens} tokens, a save every {a.interval} "
        f"(wall time; per save, over no saves):"
    )
    for mode, t in wall.items():
        extra = "" if mode == "none" else f", +{1e3 * (t - wall['none']) / a.rounds:.0f} ms"
        name = "no saves" if mode == "none" else mode
        say(f"    {name:8s} {t:7.2f} s ({1e3 * t / steps:.0f} ms a step{extra})")
    for saver in savers.values():
        saver.close()
    torch.distributed.barrier()
    if d.is_main:
        shutil.rmtree(root, ignore_errors=True)
    distributed.shutdown()
    return 0


def _tensors(model, opt):
    from trainer.checkpoint import model_and_optimizer_state

    state = model_and_optimizer_state(model, opt)
    for t in state["model"].values():
        yield t.to_local() if hasattr(t, "to_local") else t
    for s in state["optim"]["state"].values():
        for t in s.values():
            if isinstance(t, torch.Tensor):
                yield t.to_local() if hasattr(t, "to_local") else t


if __name__ == "__main__":
    sys.exit(main())
