"""The figures of bench/compare_hf.py: one side's timed steps summarised (step times, tokens/s,
TFLOP/s, MFU against the measured peak, losses) and the side-by-side table.
"""

from __future__ import annotations

import statistics


def summarise(
    times: list[float], losses: list[float], tokens_per_step: int, fpt: float, peak: float
) -> dict:
    total = sum(times)
    tps = tokens_per_step * len(times) / total
    tflops = fpt * tps / 1e12
    return {
        "step_time_mean_s": total / len(times),
        "step_time_median_s": statistics.median(times),
        "step_time_min_s": min(times),
        "step_time_max_s": max(times),
        "tokens_per_s": tps,
        "tflops": tflops,
        "mfu": tflops / peak,
        "tokens_per_s_median_step": tokens_per_step / statistics.median(times),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "losses": losses,
    }


def table(rows: list[tuple[str, str, str]]) -> str:
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
