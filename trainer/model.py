"""Llama-style decoder: RMSNorm, RoPE, SwiGLU, grouped-query attention, tied or untied embeddings.

Built on the meta device (no memory until sharded), then materialised with `to_empty` and filled
by `init_weights`, which writes every parameter and buffer. Each parameter is drawn in row blocks,
each from its own generator seeded by (seed, name, block), and a rank draws only the blocks over
its own shard: a model initialises identically on any number of ranks, and no rank ever holds a
full parameter (an 8B model's 2.1 GB embedding included).
"""

from __future__ import annotations

import math
import zlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from .config_sections import ModelConfig, RopeScaling
from .embedding import TokenEmbedding
from .loss import OutputHead


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


def rope_tables(
    inv_freq: torch.Tensor, length: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos [length, 1, 1, half] and signed sin [length, 1, 2, half] (-sin for the first half,
    +sin for the second), in the layout `apply_rope` broadcasts against [b, t, heads, 2, half]:
    computed in fp64 once, stored in the compute dtype so no call casts or concatenates."""
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    return cos[:, None, None, :].to(dtype), torch.stack((-sin, sin), dim=1)[:, None].to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin_pm: torch.Tensor) -> torch.Tensor:
    """x: [batch, seq, heads, head_dim]; rotate-half form (x1, x2) -> (x1 cos - x2 sin,
    x2 cos + x1 sin). Swapping the two halves is a flip of a size-2 axis; the sign is in sin_pm.
    In fp32 this is bit-identical to x * cat(cos, cos) + cat(-x2, x1) * cat(sin, sin)."""
    halves = x.unflatten(-1, (2, x.shape[-1] // 2))
    return (halves * cos + halves.flip(-2) * sin_pm).flatten(-2)


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
    def __init__(
        self,
        cfg: ModelConfig,
        rope_len: int | None = None,
        compute_dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.cfg = cfg
        self.rope_len = rope_len or cfg.max_seq_len
        self.tok_embeddings = TokenEmbedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = OutputHead(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        # Derived from config, so not saved in checkpoints; rebuilt by init_weights. In the
        # compute dtype (bf16 under mixed precision): FSDP's cast of forward inputs is then a
        # no-op and q, k are never promoted to fp32.
        half = cfg.head_dim // 2
        cos = torch.empty(self.rope_len, 1, 1, half, dtype=compute_dtype)
        sin = torch.empty(self.rope_len, 1, 2, half, dtype=compute_dtype)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [b, t, vocab]; with targets, the fp32 sum of the per-token losses instead,
        computed chunk by chunk without the full logits (trainer/loss.py)."""
        t = tokens.shape[1]
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        h = self.tok_embeddings.lookup(tokens)  # by token rows when sharded: embedding.py
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.output(self.norm(h), targets)

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
        """Fill every parameter and buffer. Call after `to_empty` (and after sharding): each
        rank writes only its own rows of each parameter, drawn as in `fill_rows`, so the full
        model is the same on any number of ranks and no rank holds a full parameter."""
        for name, param in self.named_parameters():
            # Wrappers (activation checkpointing) must not change a parameter's seed.
            name = name.replace("_checkpoint_wrapped_module.", "")
            local, row0 = local_rows(param)
            std = self._init_std(name)
            if std is None:
                local.fill_(1.0)
            else:
                fill_rows(
                    local, param.shape, row0, std, seed * 1_000_003 + zlib.crc32(name.encode())
                )
        inv = rope_inv_freq(self.cfg.head_dim, self.cfg.rope_theta, self.cfg.rope_scaling)
        cos, sin = rope_tables(inv, self.rope_len, self.rope_cos.dtype)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)

    # -- accounting -----------------------------------------------------------------------------

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        return flops_per_token(self.cfg, seq_len)


# Rows are drawn in blocks of about this many elements, each block from its own generator: a
# shard boundary may fall anywhere, and a rank draws only the blocks that overlap its rows.
INIT_BLOCK_ELEMENTS = 1 << 20


def fill_rows(out: torch.Tensor, shape: torch.Size, row0: int, std: float, param_seed: int) -> None:
    """Write rows [row0, row0 + len(out)) of a truncated-normal tensor of `shape` whose row
    block k is drawn from a generator seeded by (param_seed, k): the values depend on the
    parameter, the seed and the block size only, never on how the rows are split."""
    rows = shape[0] if len(shape) else 1
    row_numel = math.prod(shape[1:]) if len(shape) > 1 else 1
    per_block = max(1, INIT_BLOCK_ELEMENTS // max(1, row_numel))
    n = out.shape[0] if out.ndim else 1
    if n == 0:  # a rank past the last row of a small parameter
        return
    gen = torch.Generator(device=out.device)
    for block in range(row0 // per_block, -(-(row0 + n) // per_block)):
        lo, hi = block * per_block, min(rows, (block + 1) * per_block)
        drawn = torch.empty((hi - lo, *shape[1:]), dtype=out.dtype, device=out.device)
        gen.manual_seed((param_seed * 1_000_033 + block) % (1 << 63))
        nn.init.trunc_normal_(drawn, std=std, a=-3 * std, b=3 * std, generator=gen)
        a, b = max(lo, row0), min(hi, row0 + n)
        out[a - row0 : b - row0].copy_(drawn[a - lo : b - lo])


def local_rows(param: torch.Tensor) -> tuple[torch.Tensor, int]:
    """This rank's part of a parameter and the index of its first row. FSDP2 shards dim 0
    (torch.chunk-style, the last ranks may hold fewer or no rows)."""
    if not isinstance(param, DTensor):
        return param.data, 0
    local = param.to_local()
    shape, offset = compute_local_shape_and_global_offset(
        param.shape, param.device_mesh, param.placements
    )
    if tuple(shape[1:]) != tuple(param.shape[1:]) or any(offset[1:]):
        raise NotImplementedError(f"init of a parameter sharded beyond dim 0: {param.placements}")
    return local, offset[0]


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
