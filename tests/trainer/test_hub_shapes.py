"""The presets start from the hub's own Llama 3 weights as docs/training-jobs.md says: the shape
keys of each model's published config.json (huggingface.co/meta-llama/<model>, main, read as
facts; the keys trainer/hf_config.py maps) contradict neither the preset nor the arguments the
docs give, so `--model.init-from hf://meta-llama/<model>` passes the shape check before any
weight is downloaded."""

from __future__ import annotations

import json

import pytest

from trainer import config, hf_init

_LLAMA3 = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_act": "silu",
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
}


def _scaling(factor: float) -> dict:
    return {
        "factor": factor,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    }


PUBLISHED = {
    "Llama-3.2-1B": _LLAMA3
    | {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "head_dim": 64,
        "max_position_embeddings": 131072,
        "rope_scaling": _scaling(32.0),
        "tie_word_embeddings": True,
    },
    "Meta-Llama-3-8B": _LLAMA3
    | {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
    },
    "Llama-3.1-8B": _LLAMA3
    | {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "max_position_embeddings": 131072,
        "rope_scaling": _scaling(8.0),
        "tie_word_embeddings": False,
    },
}
# The job args docs/training-jobs.md gives for Llama 3.1 8B on the llama3-8b preset.
LLAMA31_ARGS = {
    "model.max_seq_len": 131072,
    "model.rope_scaling.factor": 8.0,
    "model.rope_scaling.low_freq_factor": 1.0,
    "model.rope_scaling.high_freq_factor": 4.0,
    "model.rope_scaling.original_max_seq_len": 8192,
}


@pytest.mark.parametrize(
    ("model", "preset", "args"),
    [
        ("Llama-3.2-1B", "llama3-1b", {}),
        ("Meta-Llama-3-8B", "llama3-8b", {}),
        ("Llama-3.1-8B", "llama3-8b", LLAMA31_ARGS),
    ],
)
def test_a_preset_takes_the_hub_models_shape(tmp_path, model, preset, args):
    (tmp_path / "config.json").write_text(json.dumps(PUBLISHED[model]))
    cfg = config.build(preset, {"model.init_from": str(tmp_path), **args})
    _, init = hf_init.prepare(cfg)
    assert init.hf.model["dim"] == cfg.model.dim


def test_llama_31_on_the_plain_8b_preset_is_refused_naming_both_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(PUBLISHED["Llama-3.1-8B"]))
    cfg = config.build("llama3-8b", {"model.init_from": str(tmp_path)})
    with pytest.raises(config.ConfigError) as e:
        hf_init.prepare(cfg)
    assert [i.split("=")[0] for i in e.value.issues] == ["model.max_seq_len", "model.rope_scaling"]
