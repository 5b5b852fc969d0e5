"""Sharded initialisation, RoPE tables and the FSDP units: the same model on any world size,
init memory that shrinks with the ranks, checkpoint names that do not move."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from ports import free_port
from test_trainer_loss import FIXED_MMAP
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule
from trainer_support import _env, one_rank_gloo

from trainer import config, train
from trainer.distributed import Dist
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
# reports the rise of the process's resident high-water mark (VmHWM, reset to the resident size
# just before build_model through /proc/self/clear_refs, so neither import-time peaks nor pages
# reclaimed since blur it), plus a checksum of every full parameter.
INIT_PROBE = """
import json, torch
from trainer import config, distributed, train
from trainer.exit_codes import exit_process
cfg = config.build("small", {"model": {"n_layers": 1, "vocab_size": 98304,
                                       "tie_embeddings": False}, "seq_len": 64})
d = distributed.init()
def status_kib(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # proc(5): reset the high-water mark to the current RSS
before = status_kib("VmRSS")
model = train.build_model(cfg, d)
after = status_kib("VmHWM")
sums = {k: v.full_tensor().double().sum().item() for k, v in model.state_dict().items()}
firsts = {k: v.full_tensor().flatten()[:3].tolist() for k, v in model.state_dict().items()}
if d.rank == 0:
    print(json.dumps({"rise_mib": (after - before) / 1024, "sums": sums, "firsts": firsts}))
distributed.shutdown()
exit_process(0)  # no interpreter finalization after gloo: it can abort (trainer/exit_codes.py)
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
            f"127.0.0.1:{free_port()}",
            str(script),
        ]
    p = subprocess.run(
        cmd, env=_env() | FIXED_MMAP, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
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


def _units_probe() -> dict:
    """The FSDP units of an untied model, their parameters and reshard-after-forward choice, and
    the parameter names a checkpoint is keyed by; gradients against the same model unwrapped
    (the embedding, not gathered for backward, included). One rank, in this process."""
    cfg = config.build("tiny", {"model": {"tie_embeddings": False}})
    with one_rank_gloo():
        d = Dist(0, 0, 1, torch.device("cpu"), init_device_mesh("cpu", (1,)))
        model = train.build_model(cfg, d)
        with torch.device("meta"):
            plain = Transformer(cfg.model, rope_len=cfg.seq_len)
        units, seen = {}, set()
        for name, m in model.named_modules():
            group = m._get_fsdp_state()._fsdp_param_group if isinstance(m, FSDPModule) else None
            if group is not None and id(group) not in seen:
                seen.add(id(group))
                units[name or "<root>"] = {
                    "params": sorted(
                        p._module_info.module.__class__.__name__ + "." + p._module_info.param_name
                        for p in group.fsdp_params
                    ),
                    "reshard_after_forward": group.post_forward_mesh_info is not None,
                    "unshard_in_backward": group.unshard_in_backward,
                }
        plain.to_empty(device="cpu")
        plain.init_weights(cfg.seed)
        tokens = torch.randint(0, cfg.model.vocab_size, (2, cfg.seq_len + 1))
        for m in (model, plain):
            m(tokens[:, :-1], tokens[:, 1:]).backward()
        plain_params = dict(plain.named_parameters())
        grads_equal = {
            n: torch.allclose(p.grad.full_tensor(), plain_params[n].grad, rtol=1e-5, atol=1e-7)
            for n, p in model.named_parameters()
        }
        same_names = list(model.state_dict()) == list(plain.state_dict())
    return {"units": units, "grads_equal": grads_equal, "same_names": same_names}


def test_embedding_and_head_are_their_own_units_and_names_do_not_move():
    got = _units_probe()
    assert got["same_names"]  # DCP checkpoints of earlier runs still load
    units = got["units"]
    assert "<root>" not in units  # the root holds no parameter of its own
    assert units["tok_embeddings"]["reshard_after_forward"]
    # Its backward needs only the token ids: never gathered again for it; every other unit is.
    assert not units["tok_embeddings"]["unshard_in_backward"]
    assert all(u["unshard_in_backward"] for n, u in units.items() if n != "tok_embeddings")
    assert got["grads_equal"] and all(got["grads_equal"].values()), got["grads_equal"]
    assert units["layers.0"]["reshard_after_forward"]
    assert not units["layers.1"]["reshard_after_forward"]  # the last block: backward's second
    (head,) = [u for n, u in units.items() if n in ("norm", "output")]
    assert head == {
        "params": ["FSDPOutputHead.weight", "FSDPRMSNorm.weight"],
        "reshard_after_forward": False,  # backward starts here
        "unshard_in_backward": True,
    }
