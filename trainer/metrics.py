"""Throughput, MFU, memory and the run's record: progress lines, metrics.jsonl, loss.png, and
the figures sent to CloudWatch (cloudwatch_emf.py)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import resource
import time
from pathlib import Path

import torch

from . import cloudwatch_emf, gpu_peaks, logline, tensorboard_log, wandb_log

# Every source of a measured peak starts with this word; the progress line then says so.
MEASURED = "measured"


def is_measured(source: str) -> bool:
    return source.startswith(MEASURED)


def _default_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def measured_matmul_tflops(
    device: torch.device, seconds: float = 0.3, n: int = 0, dtype: torch.dtype | None = None
) -> float:
    """This device's achieved matmul rate over `seconds` in `dtype` (default: bf16 on a GPU, fp32
    on a CPU): one noisy sample (stable_peak_tflops takes the best of several)."""
    dtype = dtype or _default_dtype(device)
    n = n or (2048 if device.type == "cuda" else 512)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    iters, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        iters += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return 2 * n**3 * iters / (time.perf_counter() - start) / 1e12


def stable_peak_tflops(
    device: torch.device, runs: int = 5, seconds: float = 1.0, dtype: torch.dtype | None = None
) -> float:
    """The best of `runs` one-second samples of a 1024^2 (4096^2 on a GPU) matmul: a 0.3 s
    512^2 sample on every rank at once moved MFU between 37% and 79% within one run. The best,
    not the median: other load only ever lowers a sample, and a peak is what the idle device
    does."""
    n = 4096 if device.type == "cuda" else 1024
    return max(measured_matmul_tflops(device, seconds, n, dtype) for _ in range(runs))


# A cached figure is checked against one short sample per run; a sample this much above it shows
# the figure was measured under load, and it is measured again.
STALE_MARGIN = 1.1


def _device_model(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_cache_file(device: torch.device, dtype: torch.dtype | None = None) -> Path:
    """One file per machine kind and precision: device model, torch version, thread count and
    matmul dtype (each changes the rate), under $XDG_CACHE_HOME/trainstack (default
    ~/.cache/trainstack)."""
    dtype = dtype or _default_dtype(device)
    key = (
        f"{_device_model(device)}|torch {torch.__version__}|threads {torch.get_num_threads()}"
        f"|{dtype}"
    )
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trainstack"
    return root / f"peak-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _read_cached(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text())["tflops"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_peak_tflops(device: torch.device, dtype: torch.dtype | None = None) -> tuple[float, str]:
    """The measured peak in `dtype`, measured once per machine kind and cached. Each run checks
    the cached figure with one 0.3 s sample: a measurement taken while the machine was busy would
    otherwise stay low for good (and every MFU high); then it is measured again, and never
    lowered."""
    dtype = dtype or _default_dtype(device)
    path = peak_cache_file(device, dtype)
    cached = _read_cached(path)
    what = f"{MEASURED} {str(dtype).removeprefix('torch.')} matmul"
    if cached is not None:
        if measured_matmul_tflops(device, 0.3, 1024, dtype) <= cached * STALE_MARGIN:
            return cached, f"{what}, cached {path}"
    tflops = max(stable_peak_tflops(device, dtype=dtype), cached or 0.0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # other runs may read it meanwhile
        record = {
            "tflops": tflops,
            "device": _device_model(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "dtype": str(dtype),
        }
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    except OSError:
        return tflops, f"{what} (not cached: cache not writable)"
    again = "; the cached figure was below a fresh sample, measured again" if cached else ""
    return tflops, f"{what}, now cached {path}{again}"


def peak_tflops(
    device: torch.device, override: float | None, bf16: bool = True
) -> tuple[float, str]:
    """(peak TFLOP/s per device, where the figure comes from), for a run computing in bf16 (fp16
    on a GPU without it) or fp32. A GPU whose exact name trainer/gpu_peaks.py lists: its dense
    figure from there. A CPU or any other GPU: measured in the run's precision; rank 0 alone
    measures, or reads its cache, and every rank takes its figure, so no rank's MFU depends on
    the others competing for the cores while it measures. The source then starts with
    `measured`, and so does the progress line's note."""
    if override:
        return override, "metrics.peak_tflops"
    if device.type == "cuda":
        row = gpu_peaks.lookup(torch.cuda.get_device_name(device))
        if row:
            return row.tflops(bf16), row.describe(bf16)
    dtype = torch.bfloat16 if bf16 else torch.float32
    if not torch.distributed.is_initialized():
        return cached_peak_tflops(device, dtype)
    shared = [cached_peak_tflops(device, dtype) if torch.distributed.get_rank() == 0 else None]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def read_records(path: str | Path, kind: str) -> dict:
    """The newest record of each step in a metrics.jsonl (a restarted run rewrites the steps it
    redoes); records without a step (the summary) under None."""
    out = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        if r.get("kind") == kind:
            out[r.get("step")] = r
    return dict(sorted(out.items(), key=lambda item: item[0] or 0))


class Recorder:
    """Rank 0's record of the run. Appends, so a resumed run continues the same file."""

    def __init__(
        self,
        out_dir: str,
        max_steps: int,
        flops_per_token: float,
        peak: float,
        world: int,
        enabled: bool,
        peak_source: str = "",
        tensorboard: bool = False,
        first_step: int = 1,
        emf: cloudwatch_emf.Publisher | None = None,
        run_config: dict | None = None,
    ):
        self.dir = Path(out_dir)
        self.enabled = enabled
        self.max_steps, self.fpt, self.peak, self.world = max_steps, flops_per_token, peak, world
        # A measured denominator is named on every progress line, not only in the start line.
        self.mfu_peak = MEASURED if is_measured(peak_source) else None
        self._window: list[tuple[float, float, int]] = []  # (step time, data time, tokens)
        self._all: list[tuple[float, float, int]] = []
        if enabled:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "metrics.jsonl"
        # The same records as TensorBoard scalars; `first_step`: the first this start writes.
        self.tensorboard = tensorboard_log.TensorBoardLog(
            self.dir, first_step, enabled and tensorboard
        )
        # Every rank's figures of each progress line to CloudWatch (None: not asked for).
        self.emf = emf
        # ... and to Weights & Biases when the job has a key (trainer/wandb_log.py).
        self.wandb = wandb_log.WandbLog(self.dir, enabled, config=run_config)

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
            self.tensorboard.record(record)
            self.wandb.record(record)

    def flush(self) -> None:
        """Queued TensorBoard events onto disk (metrics.jsonl is written as it goes)."""
        self.tensorboard.flush()

    def close(self) -> None:
        self.tensorboard.close()
        if self.emf is not None:
            self.emf.close()
        self.wandb.close()

    def step(
        self,
        step: int,
        loss: float,
        lr: float,
        grad_norm: float,
        step_time: float,
        data_time: float,
        tokens: int,
    ) -> None:
        self._window.append((step_time, data_time, tokens))
        self._all.append((step_time, data_time, tokens))
        self.write(
            {
                "kind": "train",
                "step": step,
                "loss": loss,
                "lr": lr,
                "grad_norm": grad_norm,
                "step_time": step_time,
                "tokens": tokens,
            }
        )

    def throughput(self, window: list | None = None) -> dict:
        window = self._window if window is None else window
        t = sum(w[0] for w in window)
        data = sum(w[1] for w in window)
        tokens = sum(w[2] for w in window)
        tps = tokens / t if t else 0.0
        tflops = self.fpt * tps / self.world / 1e12
        return {
            "tokens_per_s": tps,
            "tokens_per_s_per_device": tps / self.world,
            "tflops_per_device": tflops,
            "mfu": tflops / self.peak,
            "data_share": data / t if t else 0.0,
        }

    def log(self, step: int, loss: float, device: torch.device) -> str:
        th = self.throughput()
        self._window.clear()
        if self.emf is not None:  # on every rank: its own step and data times
            self.emf.publish(step, loss, th)
        # From the steady steps: the first pays for warm-up and compilation.
        steady = [w[0] for w in (self._all[1:] or self._all)]
        eta = sum(steady) / len(steady) * (self.max_steps - step) if steady else math.nan
        mem = peak_memory_gib(device)
        self.write(
            {
                "kind": "progress",
                "step": step,
                "loss": loss,
                **th,
                "peak_mem_gib": mem,
                "eta_s": eta,
            }
        )
        self.flush()  # once per progress line, not per step
        return logline.Progress(
            step,
            self.max_steps,
            loss,
            th["tokens_per_s"],
            th["tokens_per_s_per_device"],
            th["tflops_per_device"],
            th["mfu"],
            th["data_share"],
            mem,
            eta,
            mfu_peak=self.mfu_peak,
        ).format()

    def run_throughput(self) -> dict:
        """Over this process's steps, the first left out (it pays for warm-up)."""
        return self.throughput(self._all[1:] or self._all)

    def records(self, kind: str) -> dict[int, dict]:
        return read_records(self.path, kind) if self.path.exists() else {}

    def plot(self) -> Path | None:
        if not self.enabled:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train, val = self.records("train"), self.records("val")
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(list(train), [r["loss"] for r in train.values()], label="train", lw=1)
        if val:
            ax.plot(list(val), [r["loss"] for r in val.values()], "o-", label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
        out = self.dir / "loss.png"
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out
