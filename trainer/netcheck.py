"""`torchrun ... -m trainer.netcheck`: prove the network before a long run.

Measures all-reduce and all-gather over a range of message sizes with torch.distributed, reads
NCCL's own INFO log to tell which net carried the traffic (trainer/nccl_transport.py), prints a
table against the instance's network bandwidth, and exits EXIT_NETWORK (5, permanent: the
operator fails the job instead of recreating the pod) when EFA was expected but NCCL used
sockets, or the best bus bandwidth is under --min-fraction of --expected-gbps. On CPU (gloo) it
measures and prints the table but gives no GPU/EFA verdict.

Bus bandwidth as nccl-tests defines it (NVIDIA/nccl-tests v2.19.6 doc/PERFORMANCE.md), with S
the bytes of the whole array (for all-gather: every rank's part together) and t the time:
algbw = S/t; all-reduce busbw = algbw * 2(n-1)/n; all-gather busbw = algbw * (n-1)/n.

With `-- <trainer options>` the trainer runs after a passing check in the same processes, on
the same process group (trainer/distributed.py adopts a group that exists), so the training
job's command needs no second rendezvous.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

from . import distributed
from .exit_codes import EXIT_CONFIG, exit_process
from .nccl_transport import DEFAULT_MIN_FRACTION, Transport, transport, verdict

ENV_EXPECTED_GBPS = "TRAINSTACK_NETCHECK_EXPECTED_GBPS"  # set by the rendered job
PREFIX = "trainer.netcheck:"
RESULT = "NETCHECK_RESULT"  # the last line of rank 0: JSON that `trainstack netcheck` reads
ELEMENT = 4  # float32 bytes


@dataclass(frozen=True)
class Row:
    op: str
    nbytes: int
    seconds: float
    algbw_gbs: float  # GB/s (1e9 bytes)
    busbw_gbs: float

    @property
    def busbw_gbps(self) -> float:
        return self.busbw_gbs * 8


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' busbw/algbw for `op` over n ranks (doc/PERFORMANCE.md)."""
    if n <= 1:
        return 0.0  # nothing crosses a link
    return 2 * (n - 1) / n if op == "all_reduce" else (n - 1) / n


def sizes(min_bytes: int, max_bytes: int, factor: int) -> list[int]:
    out, size = [], min_bytes
    while size <= max_bytes:
        out.append(size)
        size *= factor
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run(op: str, nbytes: int, world: int, device: torch.device, iters: int, warmup: int) -> Row:
    count = max(world, nbytes // ELEMENT // world * world)  # all-gather splits it evenly
    whole = torch.ones(count, dtype=torch.float32, device=device)
    part = whole[: count // world].clone()

    def once() -> None:
        if op == "all_reduce":
            dist.all_reduce(whole)
        else:
            dist.all_gather_single(whole, part)

    for _ in range(warmup):
        once()
    _sync(device)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(iters):
        once()
    _sync(device)
    # The slowest rank's time, as the collective is only as fast as it.
    elapsed = torch.tensor([(time.perf_counter() - start) / iters], device=device)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    seconds = float(elapsed.item())
    size = count * ELEMENT
    algbw = size / seconds / 1e9
    return Row(op, size, seconds, algbw, algbw * bus_factor(op, world))


def table(rows: list[Row], expected_gbps: float | None) -> str:
    head = f"{'op':<11}{'bytes':>12}{'time us':>11}{'algbw GB/s':>12}{'busbw GB/s':>12}"
    head += f"{'busbw Gbps':>12}{'of inst.':>10}"
    lines = [head]
    for r in rows:
        share = f"{r.busbw_gbps / expected_gbps:.0%}" if expected_gbps else "-"
        lines.append(
            f"{r.op:<11}{r.nbytes:>12}{r.seconds * 1e6:>11.1f}{r.algbw_gbs:>12.4g}"
            f"{r.busbw_gbs:>12.4g}{r.busbw_gbps:>12.4g}{share:>10}"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def captured_stderr(enabled: bool) -> Iterator[list[str]]:
    """While active, file descriptor 2 (where NCCL's C code logs) goes to a file; on exit the
    text is replayed to the real stderr, so the pod log keeps it, and handed to the caller."""
    out: list[str] = []
    if not enabled:
        yield out
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            sys.stderr.write(text)
            sys.stderr.flush()
            out.append(text)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str] | None]:
    argv = list(sys.argv[1:] if argv is None else argv)
    then = None
    if "--" in argv:
        i = argv.index("--")
        argv, then = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="python -m trainer.netcheck", description=__doc__.split("\n")[0]
    )
    p.add_argument("--min-bytes", type=int, default=1 << 20)
    p.add_argument("--max-bytes", type=int, default=1 << 30)
    p.add_argument("--factor", type=int, default=4, help="each size is the previous times this")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--expect-efa", action="store_true", help="fail unless NCCL used EFA")
    env_gbps = os.environ.get(ENV_EXPECTED_GBPS)
    p.add_argument(
        "--expected-gbps",
        type=float,
        default=float(env_gbps) if env_gbps else None,
        help=f"the instance's network bandwidth (default: ${ENV_EXPECTED_GBPS})",
    )
    p.add_argument("--min-fraction", type=float, default=DEFAULT_MIN_FRACTION)
    p.add_argument("--device", choices=("cuda", "cpu"), default=None)
    args = p.parse_args(argv)
    if args.min_bytes < ELEMENT or args.max_bytes < args.min_bytes or args.factor < 2:
        p.error("need 4 <= --min-bytes <= --max-bytes and --factor >= 2")
    if not 0 < args.min_fraction <= 1:
        p.error("--min-fraction must be in (0, 1]")
    return args, then


def check(args: argparse.Namespace) -> int:
    """Measure, print, decide; every rank returns the same code (rank 0's verdict)."""
    use_cuda = torch.cuda.is_available() if args.device is None else args.device == "cuda"
    if use_cuda:
        # INFO, so NCCL prints which net it uses; read once per process, at its first init.
        os.environ["NCCL_DEBUG"] = os.environ.get("NCCL_DEBUG", "INFO").upper()
        if os.environ["NCCL_DEBUG"] not in ("INFO", "TRACE"):
            os.environ["NCCL_DEBUG"] = "INFO"
    with captured_stderr(use_cuda) as log:
        d = distributed.init(device="cuda" if use_cuda else "cpu")
        # NCCL creates the communicator here at the latest (eagerly with device_id already).
        warm = torch.ones(1, device=d.device)
        dist.all_reduce(warm)
        _sync(d.device)
    backend = str(dist.get_backend())
    mine = transport(log[0]) if log else Transport(None)
    everyone: list[Transport | None] = [None] * d.world_size
    dist.all_gather_object(everyone, mine)
    rows = [
        _run(op, n, d.world_size, d.device, args.iters, args.warmup)
        for op in ("all_reduce", "all_gather")
        for n in sizes(args.min_bytes, args.max_bytes, args.factor)
    ]
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", "1"))
    best = max((r.busbw_gbps for r in rows), default=None)
    v = verdict(
        backend=backend,
        transports=[t or Transport(None) for t in everyone],
        expect_efa=args.expect_efa,
        nodes=nodes,
        busbw_gbps=best,
        expected_gbps=args.expected_gbps,
        min_fraction=args.min_fraction,
    )
    code = torch.tensor([v.code], device=d.device)
    dist.broadcast(code, src=0)
    if d.is_main:
        print(
            f"{PREFIX} {d.world_size} ranks on {nodes} node(s), backend {backend}, "
            f"transport {mine.describe() if use_cuda else 'gloo (TCP)'}"
        )
        print(table(rows, args.expected_gbps))
        for line in v.lines:
            print(f"{PREFIX} {line}")
        result = {
            "code": int(code.item()),
            "backend": backend,
            "nodes": nodes,
            "ranks": d.world_size,
            "transports": [asdict(t) if t else None for t in everyone],
            "best_busbw_gbps": best,
            "expected_gbps": args.expected_gbps,
            "verdict": v.lines,
        }
        print(f"{RESULT} {json.dumps(result)}", flush=True)
    return int(code.item())


def main(argv: list[str] | None = None) -> int:
    try:
        args, then = parse_args(argv)
    except SystemExit as e:
        return EXIT_CONFIG if e.code else 0
    code = check(args)
    if code != 0 or then is None:
        distributed.shutdown()
        return code
    from . import train  # only now: the check alone need not import the model code

    return train.main(then)


if __name__ == "__main__":
    exit_process(main())
