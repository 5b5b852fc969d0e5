"""bench/: argument parsing, the interleaved schedule, the medians and ratios from fake run
records, and gpu.py's no-GPU exit. No benchmark runs here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import compare  # noqa: E402
import report  # noqa: E402


def test_defaults_and_bad_repeats():
    a = compare.parse_args([])
    assert (a.repeats, a.layers, a.seq_len, a.no_titan) == (3, 6, 256, False)
    assert [c for c, *_ in compare.plan(a)] == ["small:1rank", "small:2ranks", "vocab128k:1rank"]
    assert "small:2ranks" not in [c for c, *_ in compare.plan(compare.parse_args(["--no-titan"]))]
    with pytest.raises(SystemExit):
        compare.parse_args(["--repeats", "0"])


def test_runs_interleave_and_flip_order():
    a = compare.parse_args(["--repeats", "2"])
    runs = [(c, s) for c, _, s, _ in compare.schedule(a)]
    small = [s for c, s in runs if c == "small:1rank"]
    assert small == ["trainstack", "hf", "hf", "trainstack"]
    titan = [(w, s) for c, w, s, _ in compare.schedule(a) if c == "small:2ranks"]
    assert {w for w, _ in titan} == {2} and {s for _, s in titan} == {"trainstack", "titan"}
    mem = [e for c, _, _, e in compare.schedule(a) if c.startswith("vocab128k")]
    assert all(e == compare.VOCAB_RUN for e in mem) and len(mem) == 4


def test_the_vocabulary_run_overrides_the_shared_shape():
    # run_side.py's argparse keeps the last occurrence: the vocabulary run's own batch, micro-batch
    # and steps, everything else (layers, seq, threads) as the other comparisons.
    import run_side

    a = compare.parse_args(["--steps", "10"])
    cmd = compare.command(a, 1, "hf", compare.VOCAB_RUN)
    got = run_side.parse_args(cmd[2:])
    assert (got.vocab, got.batch, got.micro_batch, got.steps) == (128256, 16, 8, 3)
    assert got.batch // got.micro_batch == 2  # two micro-batches per step, as the others
    assert (got.layers, got.seq_len) == (a.layers, a.seq_len)


def test_two_rank_command_uses_torchrun_and_splits_threads():
    a = compare.parse_args(["--threads", "2"])
    cmd = compare.command(a, 2, "titan", {})
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc-per-node=2" in cmd
    assert cmd[cmd.index("--threads") + 1] == "1"


def _run(comparison, side, tps, rss_mib, peer=None):
    return {
        "comparison": comparison,
        "side": side,
        "peer": peer,
        "tokens_per_s": tps,
        "peak_rss_bytes_per_rank": [int(m * 2**20) for m in rss_mib],
    }


def test_medians_ratios_and_memory_targets():
    runs = [
        _run("small:1rank", "trainstack", 100, [900]),
        _run("small:1rank", "trainstack", 300, [1100]),
        _run("small:1rank", "trainstack", 200, [1000]),
        _run("small:1rank", "hf", 250, [1000], "transformers 5.23.0"),
        _run("vocab128k:1rank", "trainstack", 50, [1500]),
        _run("vocab128k:1rank", "hf", 40, [2000], "transformers 5.23.0"),
        _run("small:2ranks", "trainstack", 80, [700, 800]),
        _run("small:2ranks", "titan", 100, [900, 1000], "torchtitan 0.3.0"),
    ]
    rows = {r["comparison"]: r for r in report.rows(report.medians(runs))}
    s = rows["small:1rank"]
    assert s["trainstack_tokens_per_s"] == 200 and s["tokens_per_s_ratio"] == 0.8
    assert s["memory_ratio"] == 1.0 and s["memory_target"] == 1.0
    assert rows["vocab128k:1rank"]["memory_ratio"] == 0.75
    assert rows["vocab128k:1rank"]["memory_target"] == 0.7
    t = rows["small:2ranks"]  # peak over ranks; no HF target against torchtitan
    assert t["memory_ratio"] == 0.8 and t["memory_target"] is None
    text = report.table(list(rows.values()))
    assert "0.750 (<= 0.7) MISSED" in text and "1.000 (<= 1.0) ok" in text
    # Speed targets by peer: 0.8 x HF misses 1.1; 80/100 x torchtitan misses 1.2; 1.25 x HF meets it.
    assert "0.800 (>= 1.1) MISSED" in text and "0.800 (>= 1.2) MISSED" in text
    assert "1.250 (>= 1.1) ok" in text
    assert "torchtitan 0.3.0" in text


def test_gpu_script_without_gpu_says_so():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "no CUDA GPU visible" in proc.stderr
