"""The figures of bench/compare.py from the runs' `BENCH-RESULT` records: medians per contestant
and comparison, the side-by-side table and the peak-memory ratios issue 16 asks for (at the small
shape trainstack <= HF; at vocab 128256 trainstack <= 0.7 x HF).
"""

from __future__ import annotations

import statistics

MEMORY_TARGETS = {"small": 1.0, "vocab128k": 0.7}


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


def table(rs: list[dict]) -> str:
    """A Markdown table (it goes into docs/trainer.md as printed)."""
    head = (
        "| comparison | peer | runs | trainstack tok/s | peer tok/s | ratio "
        "| trainstack peak MiB | peer peak MiB | memory ratio (target) |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rs:
        target = f" (<= {r['memory_target']})" if r["memory_target"] else ""
        ok = "" if not target else (" ok" if r["memory_ratio"] <= r["memory_target"] else " MISSED")
        lines.append(
            f"| {r['comparison']} | {r['peer']} | {r['runs']} "
            f"| {r['trainstack_tokens_per_s']:.1f} | {r['peer_tokens_per_s']:.1f} "
            f"| {r['tokens_per_s_ratio']:.3f} | {r['trainstack_peak_rss_mib']:.0f} "
            f"| {r['peer_peak_rss_mib']:.0f} | {r['memory_ratio']:.3f}{target}{ok} |"
        )
    return "\n".join(lines)
