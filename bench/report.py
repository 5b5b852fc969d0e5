"""The figures of bench/compare.py from the runs' `BENCH-RESULT` records: medians per contestant
and comparison, the side-by-side table and the targets issue 16 sets: tokens/s at least 1.1 x HF
and 1.2 x torchtitan; peak memory at the small shape <= HF, at vocab 128256 <= 0.7 x HF.
"""

from __future__ import annotations

import statistics

MEMORY_TARGETS = {"small": 1.0, "vocab128k": 0.7}  # against HF only
SPEED_TARGETS = {"hf": 1.1, "titan": 1.2}  # by peer side


def medians(runs: list[dict]) -> dict:
    """{(comparison, side): {tokens_per_s, peak_rss_mib (max over ranks), runs}}: medians."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["comparison"], r["side"]), []).append(r)
    return {
        key: {
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
            "peak_rss_mib": statistics.median(max(r["peak_rss_bytes_per_rank"]) for r in rs)
            / 2**20,
            "runs": len(rs),
            "peer": next((r["peer"] for r in rs if r.get("peer")), None),
        }
        for key, rs in groups.items()
    }


def rows(med: dict) -> list[dict]:
    """One row per comparison: trainstack against its peer, with both ratios."""
    out = []
    for comparison in dict.fromkeys(c for c, _ in med):
        ts = med.get((comparison, "trainstack"))
        peers = [s for c, s in med if c == comparison and s != "trainstack"]
        if ts is None or not peers:
            continue
        peer = med[(comparison, peers[0])]
        out.append(
            {
                "comparison": comparison,
                "peer": peer["peer"] or peers[0],
                "trainstack_tokens_per_s": ts["tokens_per_s"],
                "peer_tokens_per_s": peer["tokens_per_s"],
                "tokens_per_s_ratio": ts["tokens_per_s"] / peer["tokens_per_s"],
                "tokens_per_s_target": SPEED_TARGETS.get(peers[0]),
                "trainstack_peak_rss_mib": ts["peak_rss_mib"],
                "peer_peak_rss_mib": peer["peak_rss_mib"],
                "memory_ratio": ts["peak_rss_mib"] / peer["peak_rss_mib"],
                "memory_target": (
                    MEMORY_TARGETS.get(comparison.split(":")[0]) if peers[0] == "hf" else None
                ),
                "runs": min(ts["runs"], peer["runs"]),
            }
        )
    return out


def _verdict(value: float, target: float | None, at_least: bool) -> str:
    if target is None:
        return ""
    ok = value >= target if at_least else value <= target
    return f" ({'>=' if at_least else '<='} {target}) {'ok' if ok else 'MISSED'}"


def table(rs: list[dict]) -> str:
    """A Markdown table (it goes into docs/trainer.md as printed)."""
    head = (
        "| comparison | peer | runs | trainstack tok/s | peer tok/s | ratio (target) "
        "| trainstack peak MiB | peer peak MiB | memory ratio (target) |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rs:
        speed = _verdict(r["tokens_per_s_ratio"], r.get("tokens_per_s_target"), at_least=True)
        memory = _verdict(r["memory_ratio"], r["memory_target"], at_least=False)
        lines.append(
            f"| {r['comparison']} | {r['peer']} | {r['runs']} "
            f"| {r['trainstack_tokens_per_s']:.1f} | {r['peer_tokens_per_s']:.1f} "
            f"| {r['tokens_per_s_ratio']:.3f}{speed} | {r['trainstack_peak_rss_mib']:.0f} "
            f"| {r['peer_peak_rss_mib']:.0f} | {r['memory_ratio']:.3f}{memory} |"
        )
    return "\n".join(lines)
