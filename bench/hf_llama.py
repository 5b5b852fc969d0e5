"""The Hugging Face side of bench/compare_hf.py: a `LlamaForCausalLM` of the trainstack model's
exact shape, the trainstack weights copied into it name by name, the common FSDP2 wrapping (each
decoder layer, then the root with the embedding and head; trainer.parallelize's own units are
trainstack's to win with), and trainer.train.train_step's sequence with Hugging Face's own loss.
transformers is imported inside `build_hf` only (bench/requirements.txt installs it).
"""

from __future__ import annotations

import math

import torch
from torch.distributed.fsdp import fully_shard

from trainer import batches, config, distributed
from trainer.parallelize import mixed_precision
from trainer.train import clip_gradients

# trainstack parameter name piece -> Hugging Face piece (a renaming, checked shape by shape).
_NAMES = [
    ("tok_embeddings.", "model.embed_tokens."),
    ("layers.", "model.layers."),
    ("attention_norm.", "input_layernorm."),
    ("ffn_norm.", "post_attention_layernorm."),
    ("attention.wq.", "self_attn.q_proj."),
    ("attention.wk.", "self_attn.k_proj."),
    ("attention.wv.", "self_attn.v_proj."),
    ("attention.wo.", "self_attn.o_proj."),
    ("feed_forward.w1.", "mlp.gate_proj."),
    ("feed_forward.w3.", "mlp.up_proj."),
    ("feed_forward.w2.", "mlp.down_proj."),
    ("output.", "lm_head."),
]


def hf_name(name: str) -> str:
    if name.startswith("norm."):
        return "model." + name
    for a, b in _NAMES:
        name = name.replace(a, b)
    return name


def build_hf(cfg: config.TrainConfig):
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    m = cfg.model
    rope = {"rope_type": "default", "rope_theta": m.rope_theta}
    if m.rope_scaling is not None:
        s = m.rope_scaling
        rope = {
            "rope_type": "llama3",
            "rope_theta": m.rope_theta,
            "factor": s.factor,
            "low_freq_factor": s.low_freq_factor,
            "high_freq_factor": s.high_freq_factor,
            "original_max_position_embeddings": s.original_max_seq_len,
        }
    hf_cfg = LlamaConfig(
        vocab_size=m.vocab_size,
        hidden_size=m.dim,
        intermediate_size=m.ffn_hidden,
        num_hidden_layers=m.n_layers,
        num_attention_heads=m.n_heads,
        num_key_value_heads=m.n_kv_heads,
        head_dim=m.head_dim,
        hidden_act="silu",
        max_position_embeddings=m.max_seq_len,
        rms_norm_eps=m.norm_eps,
        rope_parameters=rope,
        tie_word_embeddings=m.tie_embeddings,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        initializer_range=m.init_std,
        use_cache=False,
        attn_implementation="sdpa",
    )
    model = LlamaForCausalLM(hf_cfg).to(torch.float32)
    impl = model.config._attn_implementation
    if impl != "sdpa":
        raise SystemExit(f"compare_hf: Hugging Face chose attention {impl!r}, not 'sdpa'")
    return model, transformers.__version__


def copy_weights(ts_model, hf_model) -> None:
    """trainstack's initial weights into the (not yet sharded) Hugging Face model; every
    parameter on both sides must pair up with the same shape."""
    hf_params = dict(hf_model.named_parameters())
    seen = set()
    with torch.no_grad():
        for name, p in ts_model.named_parameters():
            full = p.full_tensor() if hasattr(p, "full_tensor") else p
            target = hf_params[hf_name(name)]
            if target.shape != full.shape:
                raise SystemExit(
                    f"compare_hf: {name} {tuple(full.shape)} vs "
                    f"{hf_name(name)} {tuple(target.shape)}"
                )
            target.copy_(full)
            seen.add(hf_name(name))
    missing = set(hf_params) - seen
    if missing:
        raise SystemExit(
            f"compare_hf: Hugging Face parameters without a trainstack "
            f"counterpart: {sorted(missing)}"
        )


def shard_hf(model, cfg: config.TrainConfig, d: distributed.Dist):
    """The common FSDP2 wrapping, with trainer.parallelize's mixed precision: every decoder
    layer, then the root (embedding, final norm, head); the last layer stays gathered after
    forward."""
    mp = mixed_precision(cfg.parallel, d.device)
    layers = model.model.layers
    for i, layer in enumerate(layers):
        fully_shard(layer, mesh=d.mesh, mp_policy=mp, reshard_after_forward=i < len(layers) - 1)
    fully_shard(model, mesh=d.mesh, mp_policy=mp)
    return model


def hf_train_step(model, optimizer, micro_batches, cfg, d) -> tuple[float, float]:
    """trainer.train.train_step's sequence with Hugging Face's loss: forward/backward per
    micro-batch (loss / accumulation), one all-reduce of the loss, clipping, optimizer step."""
    accum = len(micro_batches)
    local_sum = torch.zeros((), dtype=torch.float64, device=d.device)
    for mb in micro_batches:
        inputs, _ = batches.split(mb, d.device)
        loss = model(input_ids=inputs, labels=inputs, use_cache=False).loss
        (loss / accum).backward()
        local_sum += loss.detach().double()
    torch.distributed.all_reduce(local_sum)
    loss = local_sum.item() / (accum * d.world_size)
    grad_norm = clip_gradients(model, cfg.optim.grad_clip)
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        raise SystemExit(f"compare_hf: Hugging Face loss {loss}, gradient norm {grad_norm}")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss, grad_norm
