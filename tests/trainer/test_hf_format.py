"""Hugging Face Llama in and out, with transformers itself on the other side: weights saved by
`save_pretrained` load into the trainer (`--model.init-from`) and give transformers' logits, on
one rank in this process and on two under torchrun; the trainer's export loads in
`from_pretrained` and gives the trainer's logits; what does not fit is a ConfigError naming the
key. transformers (the `test` extra) is imported by the fixtures only."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from fake_hub import FakeHub, Repo
from hf_worker import fixed_tokens, run_rank
from ports import free_port
from torch.distributed.fsdp import FSDPModule
from trainer_support import FAST, _env, export_tensors, one_rank_gloo

from trainer import config, distributed, hf_config, hf_export, hf_init, hf_names, train
from trainer.config_sections import ConfigError
from trainer.init_sources import resolve_init_from
from trainer.model import apply_rope, rope_inv_freq, rope_tables
from trainer.tokenizer import ByteTokenizer

LLAMA3_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
# The tiny preset's shape, untied, with Llama 3's RoPE (original context 64 of 256, so the
# scaled, the ramped and the unscaled frequencies all occur at head size 16).
UNTIED = {
    "model.tie_embeddings": False,
    "model.rope_theta": 500000.0,
    "model.rope_scaling": LLAMA3_ROPE | {"original_max_seq_len": 64},
}
WORDS = "once upon a time there was little girl boy who liked to play the sun and dog".split()
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"


def hf_llama_config(tied: bool):
    from transformers import LlamaConfig

    rope = {"rope_type": "default", "rope_theta": 10000.0}
    if not tied:
        rope = {"rope_type": "llama3", "rope_theta": 500000.0} | LLAMA3_ROPE
        rope["original_max_position_embeddings"] = 64
    return LlamaConfig(
        vocab_size=384,
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # GQA
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_parameters=rope,
        tie_word_embeddings=tied,
        initializer_range=0.1,  # larger than 0.02: attention and logits far from uniform
        bos_token_id=1,
        eos_token_id=2,
    )


def write_tokenizer(directory: Path) -> None:
    """A small word-level tokenizer.json with Llama 3's BOS and EOS at ids 1 and 2, and the
    tokenizer_config.json naming them."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, BOS: 1, EOS: 2} | {w: i + 3 for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([BOS, EOS])
    tok.save(str(directory / "tokenizer.json"))
    named = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS}
    (directory / "tokenizer_config.json").write_text(json.dumps(named))


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    """{"untied": (directory, model), "tied": ...}: random LlamaForCausalLMs saved with
    save_pretrained, the untied one with a tokenizer and split into two safetensors files."""
    from transformers import LlamaForCausalLM

    out = {}
    for name in ("untied", "tied"):
        torch.manual_seed(0)
        model = LlamaForCausalLM(hf_llama_config(name == "tied")).eval()
        directory = tmp_path_factory.mktemp(name)
        model.save_pretrained(directory, max_shard_size="200KB")
        if name == "untied":
            write_tokenizer(directory)
        out[name] = (directory, model)
    assert (out["untied"][0] / "model.safetensors.index.json").is_file()
    return out


def overrides(name: str, directory: Path, **extra) -> dict:
    return {"model.init_from": str(directory)} | (UNTIED if name == "untied" else {}) | extra


def trainer_logits(model, tokens):
    with torch.no_grad():
        return model(tokens)


def hf_logits(model, tokens):
    with torch.no_grad():
        return model(tokens).logits


# -- the layouts --------------------------------------------------------------------------------


def test_trainer_rope_is_transformers_rotate_half_with_llama3_frequencies():
    """Why q/k need no permutation: the trainer rotates the same halves as transformers'
    `apply_rotary_pos_emb`, with the same Llama 3 frequencies."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    hf_cfg = hf_llama_config(tied=False)
    theirs_inv, _ = ROPE_INIT_FUNCTIONS["llama3"](hf_cfg)
    cfg = config.build("tiny", UNTIED).model
    ours_inv = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
    torch.testing.assert_close(ours_inv.float(), theirs_inv, rtol=1e-6, atol=0)
    assert hf_names.ROTARY_ROW_ORDER == "rotate_half"

    q, k = torch.randn(2, 4, 10, 16), torch.randn(2, 2, 10, 16)  # [batch, heads, seq, head_dim]
    angles = torch.outer(torch.arange(10, dtype=torch.float64), ours_inv)
    emb = torch.cat((angles, angles), dim=-1)
    q_hf, k_hf = apply_rotary_pos_emb(q, k, emb.cos().float()[None], emb.sin().float()[None])
    cos, sin = rope_tables(ours_inv, 10, torch.float32)
    for x, want in ((q, q_hf), (k, k_hf)):
        got = apply_rope(x.transpose(1, 2), cos, sin).transpose(1, 2)
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_name_table_round_trips_and_is_complete():
    cfg = config.build("tiny", {"model.tie_embeddings": False}).model
    with torch.device("meta"):
        from trainer.model import Transformer

        names = [n for n, _ in Transformer(cfg).named_parameters()]
    hf = [hf_names.to_hf(n) for n in names]
    assert len(set(hf)) == len(names) == 2 * 9 + 3
    assert [hf_names.from_hf(h) for h in hf] == names
    assert hf_names.to_hf("layers.1._checkpoint_wrapped_module.attention.wk.weight") == (
        "model.layers.1.self_attn.k_proj.weight"
    )
    assert hf_names.from_hf("model.layers.0.self_attn.rotary_emb.inv_freq") is None
    with pytest.raises(KeyError):
        hf_names.from_hf("model.layers.0.self_attn.q_proj.bias")


# -- import -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["untied", "tied"])
def test_init_from_gives_transformers_logits_on_one_rank(hf_models, name):
    directory, hf_model = hf_models[name]
    tokens = fixed_tokens(384)
    with one_rank_gloo():
        d = distributed.init()
        cfg, init = hf_init.prepare(config.build("tiny", overrides(name, directory)))
        model = train.build_model(cfg, d)
        got = hf_init.load_weights(model, init)
        ours = trainer_logits(model, tokens)
        want = hf_logits(hf_model, tokens)
        torch.testing.assert_close(ours, want, rtol=1e-5, atol=1e-5)
        assert want.std() > 0.5  # logits that tell weights apart
        assert got.read_bytes == got.total_bytes == 4 * model.num_params()
        # The contrast: the same weights with q/k in Meta's interleaved order (the permutation
        # HF's conversion applies) do not give transformers' logits.
        for unit in model.modules():
            if isinstance(unit, FSDPModule):
                unit.reshard()  # the units forward left gathered: their sharded parameters back
        with torch.no_grad():
            rotary = [p for n, p in model.named_parameters() if hf_names.is_rotary(n)]
            assert len(rotary) == 2 * cfg.model.n_layers  # q and k of each block
            for param in rotary:
                local = param.to_local()  # one rank: the whole tensor
                heads = local.shape[0] // cfg.model.head_dim
                local.copy_(hf_names.meta_to_hf_rows(local.clone(), heads))
        assert (trainer_logits(model, tokens) - want).abs().max() > 0.1


@pytest.fixture(scope="module")
def two_rank_import(hf_models, tmp_path_factory):
    """One 2-rank run of hf_worker.py on the untied model: they load, forward, export. Rank 1 is
    a process started as the training operator starts a rank (RANK, WORLD_SIZE, the master's
    address); rank 0 runs here, in a gloo group with it, sparing the imports of a second
    process and of torchrun's agent (seconds of CPU each)."""
    directory, _ = hf_models["untied"]
    workdir = tmp_path_factory.mktemp("two")
    argv = [*FAST, "--checkpoint.dir", str(workdir / "ckpt"), "--metrics.out-dir"]
    argv += [str(workdir / "runs"), "--parallel.timeout-s", "120", "--model.init-from"]
    argv += [str(directory), "--model.tie-embeddings", "false", "--model.rope-theta", "500000"]
    for key, value in UNTIED["model.rope_scaling"].items():
        argv += [f"--model.rope-scaling.{key.replace('_', '-')}", str(value)]
    port = free_port()
    peer = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "hf_worker.py"), *argv],
        env=_env()
        | {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}
        | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=0,
            world_size=2,
            timeout=timedelta(seconds=120),
        )
        run_rank(argv)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        output = peer.communicate(timeout=180)[0]
    assert peer.returncode == 0, output[-3000:]
    return workdir / "runs"


def test_init_from_on_two_ranks_reads_half_each_and_gives_transformers_logits(
    hf_models, two_rank_import
):
    result = torch.load(two_rank_import / "result.pt", weights_only=True)
    want = hf_logits(hf_models["untied"][1], fixed_tokens(384))
    torch.testing.assert_close(result["logits"], want, rtol=1e-5, atol=1e-5)
    # Every parameter's rows split evenly here: each rank read exactly its half, never the whole.
    assert result["read"] == [result["total"] // 2] * 2


def test_export_of_two_ranks_loads_in_transformers(hf_models, two_rank_import):
    from transformers import AutoModelForCausalLM

    export = two_rank_import / "export"
    assert (export / "model.safetensors.index.json").is_file()  # split at 100 kB
    assert (export / "tokenizer.json").is_file() and (export / "tokenizer_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(export).eval()
    tokens = fixed_tokens(384)
    torch.testing.assert_close(
        hf_logits(model, tokens), hf_logits(hf_models["untied"][1], tokens), rtol=1e-5, atol=1e-5
    )


# -- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tied", [False, True])
def test_export_loads_in_transformers_with_the_trainers_logits(tmp_path, tied):
    """The trainer's own (random) weights, exported: transformers gives the trainer's logits,
    and the run's UTF-8 byte tokenizer is written as a tokenizer.json with the same ids, which
    vLLM needs to start (v0.11.0 vllm/transformers_utils/tokenizer.py get_tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = config.build("tiny", {} if tied else UNTIED)
    tokens = fixed_tokens(384)
    with one_rank_gloo():
        d = distributed.init()
        model = train.build_model(cfg, d)
        ours = trainer_logits(model, tokens)
        out = hf_export.export_full(model, cfg, tmp_path / "export", 0, "float32")
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    written = json.loads((out / "config.json").read_text())
    assert written["tie_word_embeddings"] is tied and written["eos_token_id"] == 257
    tok, text = AutoTokenizer.from_pretrained(out), "héllo, wörld ✓\n"
    assert (tok.bos_token_id, tok.eos_token_id) == (written["bos_token_id"], 257)
    assert tok(text).input_ids == ByteTokenizer().encode(text, specials=True).tolist()
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    torch.testing.assert_close(hf_logits(loaded, tokens), ours, rtol=1e-5, atol=1e-5)


def test_run_starts_from_the_weights_and_a_resume_from_its_checkpoint(hf_models, tmp_path, capsys):
    """The trainer's run(): a fresh run reads the weights, takes the directory's tokenizer and
    exports it with them; a resume of the same run reads no weights."""
    directory, hf_model = hf_models["untied"]
    common = {
        "checkpoint.dir": str(tmp_path / "ckpt"),
        "metrics.out_dir": str(tmp_path / "runs"),
        "metrics.plot": False,
        "metrics.peak_tflops": 1.0,
        "checkpoint.export": str(tmp_path / "export"),
        "checkpoint.export_dtype": "float32",
        "checkpoint.async_save": False,
        "optim.lr": 1e-9,  # one step moves no weight by more than about lr
    }
    first = config.build("tiny", overrides("untied", directory, max_steps=2, stop_at=1) | common)
    with one_rank_gloo():
        train.run(first)
        out = capsys.readouterr().out
        assert f"weights from {directory}" in out
        exported = export_tensors(tmp_path / "export")
        for name, tensor in hf_model.state_dict().items():
            torch.testing.assert_close(exported[name], tensor, rtol=0, atol=1e-6)
        # The model's own files come along: its tokenizer, its generation defaults, its ids.
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            assert (tmp_path / "export" / name).read_bytes() == (directory / name).read_bytes()
        written = json.loads((tmp_path / "export" / "config.json").read_text())
        assert (written["bos_token_id"], written["eos_token_id"]) == (1, 2)
        train.run(first.model_copy(update={"stop_at": 0}))
        out = capsys.readouterr().out
        assert "resumed from" in out and "weights from" not in out
    # The second export replaced the first whole, leaving nothing beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "export", "runs"]
    assert export_tensors(tmp_path / "export").keys() == exported.keys()


# -- what does not fit --------------------------------------------------------------------------


def write_config(directory: Path, **keys) -> Path:
    directory.mkdir(exist_ok=True)
    base = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 192,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 384,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    (directory / "config.json").write_text(json.dumps(base | keys))
    return directory


def test_preset_or_command_line_keys_that_contradict_config_json_are_named(tmp_path):
    directory = write_config(
        tmp_path / "m",
        hidden_size=128,
        num_key_value_heads=4,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0}
        | {"high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    )
    cfg = config.build("tiny", {"model.init_from": str(directory), "model.n_kv_heads": 2})
    with pytest.raises(ConfigError) as e:
        hf_init.prepare(cfg)
    assert [i.split(":")[0] for i in e.value.issues] == [
        "model.dim=64",
        "model.n_kv_heads=2",
        "model.rope_scaling=none",
    ]
    assert "hidden_size=128" in e.value.issues[0] and "--model.dim" in e.value.issues[0]
    # Agreeing keys (here from the command line) pass.
    fixed = {
        "model.dim": 128,
        "model.n_kv_heads": 4,
        "model.rope_scaling": UNTIED["model.rope_scaling"],
    }
    cfg = config.build("tiny", {"model.init_from": str(directory)} | fixed)
    assert hf_init.prepare(cfg)[1].hf.model["dim"] == 128


def test_contradiction_exits_2_from_the_command_line(tmp_path, monkeypatch, capsys):
    directory = write_config(tmp_path / "m", num_hidden_layers=3)
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)  # distributed.init sets them; undone after
    argv = ["--model.init-from", str(directory), "--checkpoint.dir", str(tmp_path / "c")]
    assert train.main([*argv, "--metrics.out-dir", str(tmp_path / "r")]) == 2
    assert "model.n_layers=2: the weights'" in capsys.readouterr().err


def test_both_rope_spellings_read_alike_and_other_ropes_are_refused():
    scaling = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    scaling["original_max_position_embeddings"] = 8192
    legacy = {"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3"} | scaling}
    v5 = {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0} | scaling}
    a, b = hf_config.parse(legacy, "a"), hf_config.parse(v5, "b")
    assert a.model == b.model and a.model["rope_scaling"]["original_max_seq_len"] == 8192
    # LlamaConfig 5.23.0's defaults for what a file leaves out.
    assert a.model["norm_eps"] == 1e-6 and a.model["tie_embeddings"] is False
    assert (a.bos_token_id, a.eos_token_ids) == (1, (2,))
    with pytest.raises(ConfigError, match="rope_type='yarn'"):
        hf_config.parse({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "c")
    with pytest.raises(ConfigError, match="attention_bias=True"):
        hf_config.parse({"attention_bias": True}, "d")
    # The export writes the spelling both transformers 4 and 5 read, and reads back the same.
    cfg = config.build("llama3-1b").model
    written = hf_config.to_hf(cfg, 128000, (128001, 128009), "bfloat16")
    assert written["rope_scaling"]["rope_type"] == "llama3" and "rope_parameters" not in written
    assert written["eos_token_id"] == [128001, 128009]
    assert hf_config.contradictions(cfg, hf_config.parse(written, "e")) == []


def test_tokenizer_that_does_not_fit_the_weights_is_named(hf_models, tmp_path):
    source, _ = hf_models["untied"]
    directory = write_config(tmp_path / "m", eos_token_id=[7, 8], vocab_size=384)
    (directory / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    (directory / "tokenizer_config.json").write_text(json.dumps({"bos_token": EOS}))
    cfg, init = hf_init.prepare(config.build("tiny", {"model.init_from": str(directory)}))
    assert cfg.data.tokenizer == str(directory / "tokenizer.json")
    from trainer import tokenizer

    with pytest.raises(ConfigError) as e:
        hf_init.check_tokenizer(init, tokenizer.load(cfg.data.tokenizer), cfg.data.tokenizer)
    assert [i.split(":")[0] for i in e.value.issues] == [f"data.tokenizer={cfg.data.tokenizer}"] * 2
    assert "ends documents with token 2" in e.value.issues[0]
    assert "names bos_token '<|end_of_text|>' (id 2)" in e.value.issues[1]


def test_a_hub_model_is_fetched_beside_the_checkpoints_and_read_as_its_directory(
    hf_models, tmp_path, monkeypatch
):
    """hf:// through the whole start: the job's HF_TOKEN authorizes the gated download, which
    lands beside the checkpoint directory, and the run reads it as the local directory it is.
    (The download itself, its errors and who fetches: test_init_sources.py.)"""
    directory, _ = hf_models["untied"]
    files = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    repo = Repo({"c" * 40: files}, {"main": "c" * 40}, gated=True, authorized={"hf_ok"})
    job = tmp_path / "job"
    cfg = config.build(
        "tiny",
        overrides("untied", directory)
        | {"model.init_from": "hf://org/llama", "checkpoint.dir": str(job / "checkpoints")},
    )
    with FakeHub({"org/llama": repo}, {"hf_ok"}).serving() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(ConfigError, match="no token: set the stack secret hfToken"):
            hf_init.prepare(cfg)
        monkeypatch.setenv("HF_TOKEN", "hf_ok")
        ran, init = hf_init.prepare(cfg)
    assert init.directory == job / "init-from" / "hf" / "org" / "llama" / "main"
    assert init.hf.model == hf_init.read_config(directory).model
    assert ran.data.tokenizer == str(init.directory / "tokenizer.json")


def test_old_exports_are_refused(tmp_path):
    old = tmp_path / "model.pt"
    old.write_bytes(b"x")
    with pytest.raises(ConfigError, match="export its checkpoint again"):
        resolve_init_from(str(old))
    with pytest.raises(ConfigError, match=r"checkpoint.export=.*model.pt: the export is a"):
        hf_export.check_target(old)
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_init_from(str(tmp_path))
    with pytest.raises(ConfigError, match="needs a directory to download it to"):
        resolve_init_from("s3://bucket/models/job")
