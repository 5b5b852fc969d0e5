"""bench/gpu.py without a GPU: the setup it asks the trainer for (compile and selective
activation checkpointing on, as docs/trainer.md's 40% MFU target assumes) and what it prints."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import gpu  # noqa: E402


def test_compile_and_selective_checkpointing_by_default():
    o = gpu.overrides(gpu.parse_args([]))
    assert o["parallel.compile"] is True
    assert o["parallel.activation_checkpointing"] == "selective"
    assert o["max_steps"] == 13 and "seq_len" not in o and "micro_batch_size" not in o


def test_switches_reach_the_config_keys():
    a = gpu.parse_args(
        ["--no-compile", "--activation-checkpointing", "full", "--seq-len", "2048", "--steps", "2"]
    )
    o = gpu.overrides(a)
    assert (o["parallel.compile"], o["parallel.activation_checkpointing"]) == (False, "full")
    assert (o["seq_len"], o["max_steps"]) == (2048, 5)


def test_report_names_precision_peak_source_and_the_measured_matmul():
    r = gpu.Result(
        device="NVIDIA H100 80GB HBM3",
        params_m=1498.5,
        precision="bf16",
        compiled=True,
        checkpointing="selective",
        seq_len=4096,
        micro_batch=2,
        global_batch=64,
        steps=10,
        warmup=3,
        seconds=70.0,
        flops_per_token=1.1e10,
        peak=989.5,
        peak_source="H100 bf16 datasheet",
        matmul_measured=750.0,
        peak_mem_gib=40.0,
    )
    text = gpu.report(r)
    # 64 x 4096 x 10 tokens in 70 s = 37,449 tokens/s; x 11 GFLOP = 411.9 TFLOP/s = 41.6%.
    assert "37,449 tokens/s, 411.9 TFLOP/s" in text
    assert "MFU 41.6% of 989.5 TFLOP/s (H100 bf16 datasheet)" in text
    assert "bf16 matmul measured here: 750.0 TFLOP/s" in text
    assert "torch.compile per block, activation checkpointing selective" in text
