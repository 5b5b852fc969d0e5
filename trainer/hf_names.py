"""The one name table between this trainer's parameters and Hugging Face `LlamaForCausalLM`'s.

| trainer                                 | Hugging Face                                      |
|-----------------------------------------|---------------------------------------------------|
| tok_embeddings.weight                   | model.embed_tokens.weight                         |
| layers.N.attention_norm.weight          | model.layers.N.input_layernorm.weight             |
| layers.N.attention.wq.weight            | model.layers.N.self_attn.q_proj.weight  (rotary)  |
| layers.N.attention.wk.weight            | model.layers.N.self_attn.k_proj.weight  (rotary)  |
| layers.N.attention.wv.weight            | model.layers.N.self_attn.v_proj.weight            |
| layers.N.attention.wo.weight            | model.layers.N.self_attn.o_proj.weight            |
| layers.N.ffn_norm.weight                | model.layers.N.post_attention_layernorm.weight    |
| layers.N.feed_forward.w1.weight (gate)  | model.layers.N.mlp.gate_proj.weight               |
| layers.N.feed_forward.w3.weight (up)    | model.layers.N.mlp.up_proj.weight                 |
| layers.N.feed_forward.w2.weight (down)  | model.layers.N.mlp.down_proj.weight               |
| norm.weight                             | model.norm.weight                                 |
| output.weight (absent when tied)        | lm_head.weight (absent when tied)                 |

Every tensor keeps its shape ([out, in] for the projections, as nn.Linear stores them on both
sides). The q/k rows need no permutation. Hugging Face's conversion of Meta's original
checkpoints permutes them (`permute` in huggingface/transformers@01cc9cd9d8,
src/transformers/models/llama/convert_llama_weights_to_hf.py): Meta's RoPE rotates
interleaved pairs (x0, x1), (x2, x3)... of each head, transformers' `rotate_half` rotates the
two halves (x_i, x_{i+d/2}), and the permutation moves each head's rows from the first layout
to the second. This trainer's
`apply_rope` (trainer/model.py) already rotates halves, so its rows are in Hugging Face's order:
`ROTARY_ROW_ORDER` is "rotate_half" and the mapping of q/k is the identity. Tests prove it twice
(tests/trainer/test_hf_format.py): `apply_rope` equals transformers' `apply_rotary_pos_emb`, and
imported weights give transformers' logits while the same weights through `meta_to_hf_rows` do not.
"""

from __future__ import annotations

import re

import torch

# The trainer's RoPE layout and Hugging Face's (modeling_llama.py rotate_half): the same.
ROTARY_ROW_ORDER = "rotate_half"

_TOP = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_PER_LAYER = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
ROTARY = frozenset({"attention.wq.weight", "attention.wk.weight"})

_TOP_BACK = {hf: ours for ours, hf in _TOP.items()}
_PER_LAYER_BACK = {hf: ours for ours, hf in _PER_LAYER.items()}
_OURS_LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")
_HF_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
# Old conversions stored each layer's RoPE frequencies; the trainer derives them from config.json.
_HF_DERIVED = re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")

# Pieces wrappers put into parameter names: activation checkpointing (checkpoint_wrapper) and
# torch.compile of a module object (OptimizedModule).
_WRAPPERS = ("_checkpoint_wrapped_module.", "_orig_mod.")


def clean(name: str) -> str:
    """A parameter's name without the pieces wrappers add."""
    for piece in _WRAPPERS:
        name = name.replace(piece, "")
    return name


def to_hf(name: str) -> str:
    """Trainer parameter name -> Hugging Face name; KeyError for a name outside the table."""
    name = clean(name)
    if name in _TOP:
        return _TOP[name]
    m = _OURS_LAYER.match(name)
    if m and m.group(2) in _PER_LAYER:
        return f"model.layers.{m.group(1)}.{_PER_LAYER[m.group(2)]}"
    raise KeyError(f"{name}: no Hugging Face name")


def from_hf(name: str) -> str | None:
    """Hugging Face name -> trainer name; None for a tensor the trainer derives itself
    (rotary_emb.inv_freq); KeyError for one outside the table."""
    if name in _TOP_BACK:
        return _TOP_BACK[name]
    if _HF_DERIVED.match(name):
        return None
    m = _HF_LAYER.match(name)
    if m and m.group(2) in _PER_LAYER_BACK:
        return f"layers.{m.group(1)}.{_PER_LAYER_BACK[m.group(2)]}"
    raise KeyError(f"{name}: not a LlamaForCausalLM weight this trainer has")


def is_rotary(name: str) -> bool:
    """Whether a trainer parameter's rows are RoPE's (q or k projections)."""
    m = _OURS_LAYER.match(clean(name))
    return bool(m) and m.group(2) in ROTARY


def meta_to_hf_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a q/k projection from Meta's interleaved RoPE order to rotate-half order: the
    permutation transformers' Llama conversion applies. Not used on import or export, whose
    layouts already agree (ROTARY_ROW_ORDER); kept as the documented contrast a test checks."""
    out, inp = weight.shape
    return weight.view(n_heads, out // n_heads // 2, 2, inp).transpose(1, 2).reshape(out, inp)
