"""Hugging Face Llama `config.json` <-> the trainer's ModelConfig.

Checked against transformers 5.23.0's LlamaConfig (models/llama/configuration_llama.py) and its
RoPE handling (modeling_rope_utils.py). A key missing from a config.json takes LlamaConfig's own
default, as transformers would load it:

| config.json               | ModelConfig          | LlamaConfig default                     |
|---------------------------|----------------------|-----------------------------------------|
| hidden_size               | dim                  | 4096                                    |
| intermediate_size         | ffn_hidden           | 11008                                   |
| num_hidden_layers         | n_layers             | 32                                      |
| num_attention_heads       | n_heads              | 32                                      |
| num_key_value_heads       | n_kv_heads           | None: num_attention_heads               |
| vocab_size                | vocab_size           | 32000                                   |
| max_position_embeddings   | max_seq_len          | 2048                                    |
| rms_norm_eps              | norm_eps             | 1e-6                                    |
| rope_theta                | rope_theta           | 10000 (default_theta)                   |
| rope_scaling (llama3)     | rope_scaling         | None                                    |
| tie_word_embeddings       | tie_embeddings       | False                                   |
| initializer_range         | init_std (export)    | 0.02                                    |
| bos_token_id/eos_token_id | (tokenizer checks)   | 1 / 2                                   |

RoPE comes in two spellings: transformers 4.x and the hub's Llama 3 files write `rope_theta` and
`rope_scaling` at the top; transformers 5 writes one `rope_parameters` dict holding `rope_type`,
`rope_theta` and the scaling keys (its convert_rope_params_to_dict reads both). Both are read;
the export writes the first, which both major versions (and so every vLLM release) read. Only
`rope_type` default and llama3 exist here (trainer/model.py rope_inv_freq); llama3's
`original_max_position_embeddings` is the trainer's `original_max_seq_len`. `head_dim` must be
hidden_size / num_attention_heads, `hidden_act` silu, and attention_bias and mlp_bias false:
anything else is a model this trainer does not build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config_sections import ConfigError, ModelConfig, RopeScaling

CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"

# ModelConfig key -> (config.json key, LlamaConfig 5.23.0 default).
_KEYS: dict[str, tuple[str, Any]] = {
    "dim": ("hidden_size", 4096),
    "ffn_hidden": ("intermediate_size", 11008),
    "n_layers": ("num_hidden_layers", 32),
    "n_heads": ("num_attention_heads", 32),
    "vocab_size": ("vocab_size", 32000),
    "max_seq_len": ("max_position_embeddings", 2048),
    "norm_eps": ("rms_norm_eps", 1e-6),
    "tie_embeddings": ("tie_word_embeddings", False),
}
# ModelConfig key -> the config.json key named in a contradiction.
_HF_KEY = {ours: key for ours, (key, _) in _KEYS.items()} | {
    "n_kv_heads": "num_key_value_heads",
    "rope_theta": "rope_theta",
    "rope_scaling": "rope_scaling",
}
_DEFAULT_THETA = 10000.0  # modeling_rope_utils.py RotaryEmbeddingConfigMixin.default_theta
_DEFAULT_BOS, _DEFAULT_EOS = 1, 2
# RopeScaling field -> llama3 rope key.
_LLAMA3 = {
    "factor": "factor",
    "low_freq_factor": "low_freq_factor",
    "high_freq_factor": "high_freq_factor",
    "original_max_seq_len": "original_max_position_embeddings",
}


@dataclass(frozen=True)
class HfModel:
    """What a config.json says, in the trainer's terms."""

    model: dict[str, Any]  # ModelConfig keys the weights fix
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]
    source: str  # the file, for messages


def read_json(directory: Path, name: str, key: str = "model.init_from") -> dict | None:
    """A JSON file of a model directory; None when absent, ConfigError when unreadable."""
    path = directory / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError([f"{key}={directory}: cannot read {name} ({e})"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{key}={directory}: {name} is not a JSON object"])
    return data


def _rope(hf: dict) -> tuple[dict, float]:
    """(rope parameters, theta) from either spelling."""
    params = dict(hf.get("rope_parameters") or {})
    legacy = hf.get("rope_scaling")
    if legacy:  # transformers 5 gives rope_scaling precedence too
        params = dict(legacy)
    theta = params.get("rope_theta", hf.get("rope_theta", _DEFAULT_THETA))
    params.setdefault("rope_type", params.get("type", "default"))
    return params, float(theta)


def parse(hf: dict, source: str) -> HfModel:
    """config.json -> HfModel, or ConfigError naming what this trainer cannot build."""
    issues = []
    arch = hf.get("architectures") or ["LlamaForCausalLM"]
    if hf.get("model_type", "llama") != "llama" or "LlamaForCausalLM" not in arch:
        issues.append(
            f"{source}: model_type={hf.get('model_type')!r}, architectures={arch}: only "
            "Llama (LlamaForCausalLM) weights load into this trainer"
        )
    for key, want in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False)):
        if hf.get(key, want) != want:
            issues.append(f"{source}: {key}={hf[key]!r}: this trainer builds {key}={want!r} only")
    model = {ours: hf.get(key, default) for ours, (key, default) in _KEYS.items()}
    model["n_kv_heads"] = hf.get("num_key_value_heads") or model["n_heads"]
    head_dim = hf.get("head_dim")
    if head_dim is not None and head_dim * model["n_heads"] != model["dim"]:
        issues.append(
            f"{source}: head_dim={head_dim}: this trainer's head size is hidden_size / "
            f"num_attention_heads = {model['dim'] / model['n_heads']:g}"
        )
    params, model["rope_theta"] = _rope(hf)
    rope_type = params["rope_type"]
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        issues.append(f"{source}: partial_rotary_factor: this trainer rotates whole heads")
    if rope_type == "default":
        model["rope_scaling"] = None
    elif rope_type == "llama3":
        missing = [k for k in _LLAMA3.values() if k not in params]
        if missing:
            issues.append(f"{source}: llama3 rope scaling without {', '.join(missing)}")
        else:
            model["rope_scaling"] = {ours: params[k] for ours, k in _LLAMA3.items()}
    else:
        issues.append(
            f"{source}: rope_type={rope_type!r}: this trainer has default and llama3 RoPE only"
        )
    if issues:
        raise ConfigError(issues)
    eos = hf.get("eos_token_id", _DEFAULT_EOS)
    eos_ids = tuple(eos) if isinstance(eos, list) else (() if eos is None else (eos,))
    return HfModel(model, hf.get("bos_token_id", _DEFAULT_BOS), eos_ids, source)


def contradictions(cfg: ModelConfig, hf: HfModel) -> list[str]:
    """One line per model key whose value (from the preset or the command line) is not the
    weights': the shape must come out the same wherever the config is built, including by
    tools that never see config.json (the stack's memory model and checkpoint budget)."""
    out = []
    for key, want in hf.model.items():
        have = getattr(cfg, key)
        if key == "rope_scaling":
            same = (have is None) == (want is None) and (
                want is None or have == RopeScaling.model_validate(want)
            )
            shown_have = "none" if have is None else have.model_dump()
        else:
            same = have == want
            shown_have = have
        if not same:
            hf_key = _HF_KEY[key]
            out.append(
                f"model.{key}={shown_have}: the weights' {hf.source} has {hf_key}={want} "
                f"(choose the preset of this shape or set --model.{key.replace('_', '-')})"
            )
    return out


def to_hf(
    cfg: ModelConfig, bos_token_id: int | None, eos_token_ids: tuple[int, ...], dtype: str
) -> dict:
    """The config.json of an export: the keys of the hub's own Llama 3 files."""
    scaling = None
    if cfg.rope_scaling is not None:
        scaling = {"rope_type": "llama3"} | {
            k: getattr(cfg.rope_scaling, ours) for ours, k in _LLAMA3.items()
        }
    out = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        **{key: getattr(cfg, ours) for ours, (key, _) in _KEYS.items()},
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rope_theta": cfg.rope_theta,
        "rope_scaling": scaling,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": cfg.init_std,
        "bos_token_id": bos_token_id,
        "eos_token_id": _one_or_list(eos_token_ids),
        "torch_dtype": dtype,
        "use_cache": True,
    }
    return dict(sorted(out.items()))


def generation_config(bos_token_id: int | None, eos_token_ids: tuple[int, ...]) -> dict:
    """A generation_config.json for a model that came with none: the special ids only (the
    sampling defaults stay transformers' and vLLM's)."""
    return {"bos_token_id": bos_token_id, "eos_token_id": _one_or_list(eos_token_ids)}


def _one_or_list(ids: tuple[int, ...]) -> int | list[int] | None:
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else list(ids)
