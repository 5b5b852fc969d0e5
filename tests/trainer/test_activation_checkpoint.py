"""Activation checkpointing per block (trainer/activation_checkpoint.py) and compiling a block as
one graph: the config's three modes (and the booleans of older configs), the gradients of every
mode equal to no checkpointing, what selective keeps and what it recomputes (counted at the
dispatcher during backward), and a block that compiles with fullgraph=True, forward and
backward."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from trainer import config
from trainer.activation_checkpoint import checkpointed, resolve_mode
from trainer.model import Block, rope_inv_freq, rope_tables

MODEL = config.build("tiny").model
SEQ = 16


class _OpCount(TorchDispatchMode):
    """How often each aten op runs inside the `with`."""

    def __init__(self):
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func.name()] += 1
        return func(*args, **(kwargs or {}))


def _block(mode: str) -> torch.nn.Module:
    torch.manual_seed(0)  # the same weights for every mode
    block = Block(MODEL)
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return checkpointed(block, mode)


def _inputs():
    torch.manual_seed(1)
    x = torch.randn(2, SEQ, MODEL.dim, requires_grad=True)
    cos, sin = rope_tables(rope_inv_freq(MODEL.head_dim, 1e4, None), SEQ, torch.float32)
    return x, cos, sin


def _grads(block, x, cos, sin, counter: _OpCount | None = None) -> dict[str, torch.Tensor]:
    y = block(x, cos, sin)
    with counter or contextlib.nullcontext():
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    named = {
        n.replace("_checkpoint_wrapped_module.", ""): p.grad for n, p in block.named_parameters()
    }
    return {**named, "input": x.grad}


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ("selective", "selective"),
        ("full", "full"),
        ("none", "none"),
        (True, "full"),  # a stack's job args from before the modes: YAML booleans
        (False, "none"),
        ("true", "full"),  # an old command line
        ("False", "none"),
    ],
)
def test_the_mode_is_one_of_three_and_the_old_booleans_map_onto_them(given, mode):
    cfg = config.build("tiny", {"parallel.activation_checkpointing": given})
    assert cfg.parallel.activation_checkpointing == mode


def test_the_command_line_takes_a_mode_and_none_is_the_mode():
    for text in ("none", "full", "selective", "true"):
        cfg = config.from_args(["--parallel.activation-checkpointing", text])
        assert cfg.parallel.activation_checkpointing == {"true": "full"}.get(text, text)


@pytest.mark.parametrize("bad", ["yes", "partial", 1])
def test_another_value_names_the_key_and_the_modes(bad):
    with pytest.raises(config.ConfigError) as e:
        config.build("tiny", {"parallel.activation_checkpointing": bad})
    assert (
        f"parallel.activation_checkpointing={bad!r}: must be one of auto, none, full, selective"
        in str(e.value)
    )


def test_every_preset_leaves_the_mode_to_the_memory_model():
    modes = {name: config.build(name).parallel.activation_checkpointing for name in config.PRESETS}
    assert set(modes.values()) == {"auto"}


class _Gpu:
    """torch.cuda as resolve_mode reads it, for a GPU of `gib` total memory."""

    def __init__(self, monkeypatch, gib: float):
        props = type("Props", (), {"total_memory": int(gib * 2**30)})()
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _: props)


def _resolve(preset: str, ranks: int, micro_batch: int | None = None, mode: str = "auto"):
    cfg = config.build(preset)
    mb = micro_batch or cfg.micro_batch_size
    return resolve_mode(mode, cfg.model.model_dump(), cfg.seq_len, mb, ranks, bf16=True)


def test_auto_is_none_on_a_cpu_and_a_named_mode_is_kept(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _resolve("llama3-8b", 8)[0] == "none"
    assert _resolve("tiny", 1, mode="selective") == ("selective", "as configured")


def test_auto_on_a_gpu_takes_the_first_mode_the_memory_model_fits(monkeypatch):
    _Gpu(monkeypatch, 79.1)  # an H100 80GB as torch reports it
    # 8B on 8 H100s: one 8k sequence fits with every activation kept; two need selective.
    assert _resolve("llama3-8b", 8)[0] == "none"
    mode, why = _resolve("llama3-8b", 8, micro_batch=2)
    assert mode == "selective" and why.startswith("auto: ") and "of 79.1 GiB" in why
    _Gpu(monkeypatch, 22.3)  # an A10G
    assert _resolve("llama3-8b", 16)[0] == "full"
    # Nothing fits 8 ranks: full, the least memory, and the model's figures say why.
    mode, why = _resolve("llama3-8b", 8)
    assert mode == "full" and "fits no mode" in why and "from 11 ranks" in why


@pytest.mark.parametrize("mode", ["full", "selective"])
def test_checkpointed_gradients_equal_no_checkpointing(mode):
    want = _grads(_block("none"), *_inputs())
    got = _grads(_block(mode), *_inputs())
    assert got.keys() == want.keys()
    for name in want:
        # The recompute runs the same kernels on the same inputs: fp32 rounding at most.
        torch.testing.assert_close(got[name], want[name], rtol=1e-6, atol=1e-7, msg=name)


def test_selective_keeps_matmuls_and_attention_and_recomputes_the_rest():
    counts = {}
    for mode in ("none", "full", "selective"):
        counts[mode] = _OpCount()
        _grads(_block(mode), *_inputs(), counts[mode])
    none, full, sel = (counts[m].ops for m in ("none", "full", "selective"))
    attention = "aten::_scaled_dot_product_flash_attention_for_cpu"  # SDPA's CPU kernel
    # Full checkpointing redoes the block's forward: its matmuls (all but the last, whose output
    # backward does not need) and the attention.
    assert full["aten::mm"] > none["aten::mm"] and full[attention] == 1
    # Selective redoes neither: backward runs the matmuls no checkpointing runs...
    assert sel["aten::mm"] == none["aten::mm"] and sel[attention] == 0 == none[attention]
    # ... and recomputes the cheap ops, such as SwiGLU's SiLU.
    assert none["aten::silu"] == 0 and sel["aten::silu"] == 1


@pytest.mark.parametrize("mode", ["none", "full", "selective"])
def test_a_block_compiles_as_one_graph_forward_and_backward(mode):
    torch._dynamo.reset()
    explained = torch._dynamo.explain(_block(mode))(*_inputs())
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    # As the trainer compiles it (trainer/parallelize.py), on a backend that skips inductor's
    # code generation: fullgraph=True raises on any break, in forward or in AOT autograd's
    # backward, and the gradients are the eager ones.
    block = _block(mode)
    block.compile(fullgraph=True, backend="aot_eager")
    got = _grads(block, *_inputs())
    want = _grads(_block("none"), *_inputs())
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)
