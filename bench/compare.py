"""trainstack against Hugging Face `LlamaForCausalLM` and torchtitan at the same shape and
settings (the small preset at 6 layers, seq 256, fp32, FSDP2 over gloo, same batches and threads):
each run in its own process(es) (bench/run_side.py), runs interleaved (A B, then B A, ...),
medians over `--repeats`, tokens/s and peak RSS per rank. trainstack vs HF on 1 rank, vs
torchtitan on 2 ranks, and vs HF at vocab 128256 (micro-batches of 2048 tokens: VOCAB_RUN) for
the memory ratio issue 16 targets. Prints a
Markdown table, writes build/bench/compare.json.

    build/bench-venv/bin/python bench/compare.py [--repeats 3] [--no-titan] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import report

REPO = Path(__file__).resolve().parent.parent
MARK = "BENCH-RESULT "  # bench/run_side.py prints it

# The memory comparison at Llama 3's vocabulary, with micro-batches of 8 sequences (2048 tokens;
# Llama 3 trains on 8192 per GPU): at 512 tokens the logits are a tenth of the fp32 AdamW state
# and the ratio would measure the optimizer, not the loss. Still two micro-batches per step, as
# the others; fewer timed steps, as one takes about 20 s here. Appended last: these win.
VOCAB_RUN = {
    "--vocab": "128256",
    "--batch": "16",
    "--micro-batch": "8",
    "--steps": "3",
    "--warmup": "1",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per contestant; medians")
    p.add_argument("--steps", type=int, default=6, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per run first")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=4, help="global sequences per step")
    p.add_argument("--threads", type=int, default=0, help="total; default: the usable cores")
    p.add_argument("--no-titan", action="store_true", help="skip trainstack vs torchtitan, 2 ranks")
    p.add_argument("--no-memory", action="store_true", help="skip the vocab 128256 comparison")
    p.add_argument("--json", default="build/bench/compare.json")
    a = p.parse_args(argv)
    if a.repeats < 1 or a.steps < 1:
        p.error("--repeats and --steps must be at least 1")
    return a


def plan(a: argparse.Namespace) -> list[tuple[str, int, list[str], dict]]:
    """[(comparison, world size, sides, extra run_side args)]."""
    out = [("small:1rank", 1, ["trainstack", "hf"], {})]
    if not a.no_titan:
        out.append(("small:2ranks", 2, ["trainstack", "titan"], {}))
    if not a.no_memory:
        out.append(("vocab128k:1rank", 1, ["trainstack", "hf"], VOCAB_RUN))
    return out


def schedule(a: argparse.Namespace) -> list[tuple[str, int, str, dict]]:
    """Every run in order: each repeat visits every comparison, sides flipped on odd repeats."""
    runs = []
    for i in range(a.repeats):
        for comparison, world, sides, extra in plan(a):
            for side in sides if i % 2 == 0 else sides[::-1]:
                runs.append((comparison, world, side, extra))
    return runs


def command(a: argparse.Namespace, world: int, side: str, extra: dict) -> list[str]:
    threads = a.threads or len(os.sched_getaffinity(0))
    args = [
        "--side", side, "--layers", str(a.layers), "--seq-len", str(a.seq_len),
        "--batch", str(a.batch), "--micro-batch", str(max(1, a.batch // (2 * world))),
        "--steps", str(a.steps), "--warmup", str(a.warmup),
        "--threads", str(max(1, threads // world)),
    ]  # fmt: skip
    for k, v in extra.items():
        args += [k, v]
    script = str(REPO / "bench" / "run_side.py")
    if world == 1:
        return [sys.executable, script, *args]
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}"]
    return [sys.executable, *launch, script, *args]


def run_one(cmd: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
    raise SystemExit(f"compare: {shlex.join(cmd)} exited {proc.returncode}:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    runs = []
    for comparison, world, side, extra in schedule(a):
        cmd = command(a, world, side, extra)
        print(f"compare: {comparison} {side} ...", flush=True)
        r = run_one(cmd)
        r["comparison"] = comparison
        runs.append(r)
        mib = [round(x / 2**20) for x in r["peak_rss_bytes_per_rank"]]
        print(f"  {r['tokens_per_s']:.1f} tok/s, peak RSS per rank {mib} MiB", flush=True)
    rows = report.rows(report.medians(runs))
    print()
    print(report.table(rows))
    repro = shlex.join(["make", "bench", f"BENCH_ARGS={shlex.join(argv or sys.argv[1:])}"])
    print(f"\nreproduce: {repro}")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"command": repro, "rows": rows, "runs": runs}, indent=1))
    print(f"figures: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
