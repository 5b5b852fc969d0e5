"""The model: materialised from meta with every value written; FLOPs that match a counter."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from trainer import config
from trainer.model import Transformer, flops_per_token, rope_inv_freq


def materialise(cfg, seed=0, poison=True):
    with torch.device("meta"):
        model = Transformer(cfg.model, rope_len=cfg.seq_len)
    model.to_empty(device="cpu")
    if poison:  # whatever init_weights does not write stays NaN
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                t.fill_(float("nan"))
    model.init_weights(seed)
    return model


@pytest.mark.parametrize("tied", [True, False])
def test_init_writes_every_parameter_and_buffer(tied):
    cfg = config.build("tiny", {"model": {"tie_embeddings": tied}})
    model = materialise(cfg)
    assert (model.output.weight is model.tok_embeddings.weight) == tied
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert torch.isfinite(t).all(), f"{name} left uninitialised"
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            assert torch.equal(p, torch.ones_like(p))
        else:
            assert 0.3 * cfg.model.init_std < p.std() < 1.5 * cfg.model.init_std, name
    assert torch.equal(model.rope_cos[0], torch.ones_like(model.rope_cos[0]))


def test_init_is_seeded_and_independent_of_parameter_order():
    cfg = config.build("tiny")
    a, b, c = materialise(cfg, 1), materialise(cfg, 1), materialise(cfg, 2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["layers.0.attention.wq.weight"], sc["layers.0.attention.wq.weight"])
    # Different tensors of the same shape get different values.
    assert not torch.equal(sa["layers.0.attention.wk.weight"], sa["layers.0.attention.wv.weight"])


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("tiny", {}),
        ("tiny", {"model": {"tie_embeddings": False, "n_kv_heads": 4}, "seq_len": 128}),
        ("small", {"model": {"n_layers": 2}, "seq_len": 256}),
    ],
)
def test_flops_per_token_matches_flop_counter(preset, overrides):
    cfg = config.build(preset, overrides)
    seq = cfg.seq_len
    model = materialise(cfg, poison=False)
    tokens = torch.randint(0, cfg.model.vocab_size, (2, seq))
    # The math backend spells attention as matmuls, which the counter sees on CPU.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten()).backward()
    counted = counter.get_total_flops() / tokens.numel()
    assert math.isclose(model.flops_per_token(seq), counted, rel_tol=0.05)
    assert model.flops_per_token(seq) == flops_per_token(cfg.model, seq)


def test_llama3_rope_scaling_keeps_high_and_slows_low_frequencies():
    cfg = config.build("llama3-1b").model
    plain = rope_inv_freq(cfg.head_dim, cfg.rope_theta, None)
    scaled = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
    assert scaled[0] == plain[0]  # shortest wavelength untouched
    assert math.isclose(scaled[-1], plain[-1] / cfg.rope_scaling.factor)
    assert (scaled <= plain).all()


def test_causal_and_gqa():
    cfg = config.build("tiny")
    model = materialise(cfg, poison=False)
    x = torch.randint(0, 256, (1, 32))
    y = x.clone()
    y[0, 20:] = (y[0, 20:] + 1) % 256
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[0, :20], b[0, :20])  # the future does not leak backwards
    assert not torch.allclose(a[0, 20:], b[0, 20:])
    assert model.layers[0].attention.wk.weight.shape[0] == cfg.model.n_kv_heads * 16
