"""Sharded initialisation, RoPE tables and the FSDP units: the same model on any world size,
init memory that shrinks with the ranks, checkpoint names that do not move."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from trainer_support import _env, _free_port

from trainer import config
from trainer.model import (
    INIT_BLOCK_ELEMENTS,
    Transformer,
    apply_rope,
    fill_rows,
    rope_inv_freq,
    rope_tables,
)


@pytest.mark.parametrize("shape", [(37, 8), (5,), (INIT_BLOCK_ELEMENTS // 16 * 3 + 5, 16)])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_rows_drawn_in_parts_equal_the_whole(shape, parts):
    whole = torch.empty(shape)
    fill_rows(whole, torch.Size(shape), 0, 0.02, seed := 1234)
    rows = shape[0]
    per = -(-rows // parts)  # torch.chunk's split, as FSDP2's Shard(0)
    pieces = []
    for r in range(parts):
        lo, hi = min(rows, r * per), min(rows, (r + 1) * per)
        piece = torch.empty((hi - lo, *shape[1:]))
        fill_rows(piece, torch.Size(shape), lo, 0.02, seed)
        pieces.append(piece)
    assert torch.equal(torch.cat(pieces), whole)
    assert 0.01 < whole.std() < 0.03 and whole.abs().max() <= 0.06


def old_apply_rope(x, cos, sin):
    """The per-call concatenating form this replaced."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return (x * cos + torch.cat((-x2, x1), dim=-1) * sin).to(x.dtype)


def test_rope_is_bit_identical_in_fp32_and_stored_in_the_compute_dtype():
    cfg = config.build("llama3-1b").model
    with torch.device("meta"):
        bf16 = Transformer(cfg, rope_len=64, compute_dtype=torch.bfloat16)
    inv = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
    angles = torch.outer(torch.arange(64, dtype=torch.float64), inv)
    angles = torch.cat((angles, angles), dim=-1)
    cos, sin = angles.cos().float(), angles.sin().float()
    new_cos, new_sin = rope_tables(inv, 64, torch.float32)
    x = torch.randn(2, 64, 3, cfg.head_dim)
    assert torch.equal(apply_rope(x, new_cos, new_sin), old_apply_rope(x, cos, sin))
    assert bf16.rope_cos.dtype == bf16.rope_sin.dtype == torch.bfloat16
    b_cos, b_sin = rope_tables(inv, 64, torch.bfloat16)
    out = apply_rope(x.bfloat16(), b_cos, b_sin)
    assert out.dtype == torch.bfloat16  # never promoted to fp32
    torch.testing.assert_close(out.float(), old_apply_rope(x, cos, sin), atol=0.05, rtol=0.02)


# Builds the model as the trainer does (meta, fully_shard, to_empty, init) on each rank and
# reports the rise of the process's resident high-water mark (ru_maxrss) over its resident size
# just before build_model (VmRSS: the high-water mark then may still hold import-time peaks),
# plus a checksum of every full parameter.
INIT_PROBE = """
import json, resource, torch
from trainer import config, distributed, train
cfg = config.build("small", {"model": {"n_layers": 1, "vocab_size": 98304,
                                       "tie_embeddings": False}, "seq_len": 64})
d = distributed.init()
status = open("/proc/self/status").read().split("VmRSS:")[1]
before = int(status.split()[0])  # KiB, as ru_maxrss on Linux
model = train.build_model(cfg, d)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sums = {k: v.full_tensor().double().sum().item() for k, v in model.state_dict().items()}
firsts = {k: v.full_tensor().flatten()[:3].tolist() for k, v in model.state_dict().items()}
if d.rank == 0:
    print(json.dumps({"rise_mib": (after - before) / 1024, "sums": sums, "firsts": firsts}))
distributed.shutdown()
"""


def build(world: int, tmp_path) -> dict:
    script = tmp_path / "probe.py"
    script.write_text(INIT_PROBE)
    cmd = [sys.executable, str(script)]
    if world > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(world),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            f"127.0.0.1:{_free_port()}",
            str(script),
        ]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_init_is_the_same_on_any_world_size_and_its_memory_halves(tmp_path):
    one, two = build(1, tmp_path), build(2, tmp_path)
    assert one["firsts"] == two["firsts"] and one["sums"] == two["sums"]
    # 1 layer, untied 98304 x 512 embedding and output: 417 MB of fp32 parameters, 403 MB of
    # them in two tensors. Drawing each full tensor before cutting out the shard (as before)
    # left rank 0 of 2 at ~1x a one-rank build; only the local rows: ~0.5x.
    assert one["rise_mib"] > 380, one["rise_mib"]
    assert two["rise_mib"] < 0.6 * one["rise_mib"], (two["rise_mib"], one["rise_mib"])
