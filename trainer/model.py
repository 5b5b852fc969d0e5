"""Llama-style decoder: RMSNorm, RoPE, SwiGLU, grouped-query attention, tied or untied embeddings.

Built on the meta device (no memory until sharded), then materialised with `to_empty` and filled
by `init_weights`, which writes every parameter and buffer. Each parameter is drawn from its own
generator seeded by (seed, name) over the full shape and then cut to the local shard, so a model
initialises identically on any number of ranks.
"""

from __future__ import annotations

import math
import zlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor

from .config_sections import ModelConfig, RopeScaling


def rope_inv_freq(head_dim: int, theta: float, scaling: RopeScaling | None) -> torch.Tensor:
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    if scaling is None:
        return inv
    # Llama 3.1 scaling: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp
    # in between.
    low_wavelen = scaling.original_max_seq_len / scaling.low_freq_factor
    high_wavelen = scaling.original_max_seq_len / scaling.high_freq_factor
    wavelen = 2 * math.pi / inv
    ramp = (
        (scaling.original_max_seq_len / wavelen - scaling.low_freq_factor)
        / (scaling.high_freq_factor - scaling.low_freq_factor)
    ).clamp(0, 1)
    blended = (1 - ramp) * inv / scaling.factor + ramp * inv
    return torch.where(
        wavelen < high_wavelen,
        inv,
        torch.where(wavelen > low_wavelen, inv / scaling.factor, blended),
    )


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [batch, seq, heads, head_dim]; rotate-half form."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = apply_rope(self.wq(x).view(b, t, self.n_heads, self.head_dim), cos, sin)
        k = apply_rope(self.wk(x).view(b, t, self.n_kv_heads, self.head_dim), cos, sin)
        v = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            is_causal=True,
            enable_gqa=self.n_kv_heads != self.n_heads,
        )
        return self.wo(out.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)  # gate
        self.w3 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)  # up
        self.w2 = nn.Linear(cfg.ffn_hidden, cfg.dim, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig, rope_len: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.rope_len = rope_len or cfg.max_seq_len
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        # Derived from config, so not saved in checkpoints; rebuilt by init_weights.
        self.register_buffer("rope_cos", torch.empty(self.rope_len, cfg.head_dim), persistent=False)
        self.register_buffer("rope_sin", torch.empty(self.rope_len, cfg.head_dim), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.output(self.norm(h))

    # -- initialisation -------------------------------------------------------------------------

    def to_empty(self, *, device, recurse: bool = True):
        super().to_empty(device=device, recurse=recurse)
        # Unsharded, to_empty gives each module its own copy of a shared parameter: tie again.
        # (FSDP2 keeps the tie, so the sharded path never takes this branch.)
        if self.cfg.tie_embeddings and self.output.weight is not self.tok_embeddings.weight:
            self.output.weight = self.tok_embeddings.weight
        return self

    def _init_std(self, name: str) -> float | None:
        """Normal std per parameter; None means ones (norm weights)."""
        if name.endswith("norm.weight"):
            return None
        if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
            # Residual projections scaled with depth keep the residual stream's variance flat.
            return self.cfg.init_std / math.sqrt(2 * self.cfg.n_layers)
        return self.cfg.init_std

    @torch.no_grad()
    def init_weights(self, seed: int) -> None:
        """Fill every parameter and buffer. Call after `to_empty` (and after sharding)."""
        for name, param in self.named_parameters():
            # Wrappers (activation checkpointing) must not change a parameter's seed.
            name = name.replace("_checkpoint_wrapped_module.", "")
            std = self._init_std(name)
            full = torch.empty(param.shape, dtype=param.dtype, device=param.device)
            if std is None:
                full.fill_(1.0)
            else:
                gen = torch.Generator(device=param.device)
                gen.manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
                nn.init.trunc_normal_(full, std=std, a=-3 * std, b=3 * std, generator=gen)
            if isinstance(param, DTensor):
                full = distribute_tensor(
                    full, param.device_mesh, param.placements, src_data_rank=None
                ).to_local()
                param.to_local().copy_(full)
            else:
                param.copy_(full)
        inv = rope_inv_freq(self.cfg.head_dim, self.cfg.rope_theta, self.cfg.rope_scaling)
        angles = torch.outer(torch.arange(self.rope_len, dtype=torch.float64), inv)
        angles = torch.cat((angles, angles), dim=-1)
        self.rope_cos.copy_(angles.cos().to(self.rope_cos.dtype))
        self.rope_sin.copy_(angles.sin().to(self.rope_sin.dtype))

    # -- accounting -----------------------------------------------------------------------------

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        return flops_per_token(self.cfg, seq_len)


def matmul_params(cfg: ModelConfig) -> int:
    """Weights that take part in a matmul per token: every block's projections and the output
    head (counted even when tied: the product with the vocabulary is computed either way)."""
    hd = cfg.head_dim
    attn = cfg.dim * hd * (2 * cfg.n_heads + 2 * cfg.n_kv_heads)
    ffn = 3 * cfg.dim * cfg.ffn_hidden
    return cfg.n_layers * (attn + ffn) + cfg.vocab_size * cfg.dim


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token: 6 per matmul weight, plus attention scores
    and values (12 * layers * heads * head_dim * seq_len, counted without the causal half)."""
    return 6 * matmul_params(cfg) + 12 * cfg.n_layers * cfg.n_heads * cfg.head_dim * seq_len
