"""The training config: presets, command-line overrides, errors that name the option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer import config
from trainer.model import Transformer

ROOT = Path(__file__).resolve().parents[2]


def test_every_preset_is_valid_and_overridable():
    for name in config.PRESETS:
        cfg = config.from_args(["--preset", name, "--max-steps", "7", "--optim.lr", "1e-4"])
        assert (cfg.preset, cfg.max_steps, cfg.optim.lr) == (name, 7, 1e-4)


def test_preset_shapes():
    small = config.build("small").model
    llama1b = config.build("llama3-1b").model
    llama8b = config.build("llama3-8b").model
    with torch.device("meta"):
        assert 45e6 < Transformer(small).num_params() < 55e6  # "about 50M"
        assert 1.2e9 < Transformer(llama1b).num_params() < 1.25e9  # Llama 3.2 1B: 1.24B
        assert 8.0e9 < Transformer(llama8b).num_params() < 8.1e9  # Llama 3 8B: 8.03B
    # Llama 3.2 1B: 2048 wide, 16 layers, 32/8 heads, 8192 FFN, 128256 vocabulary, tied.
    assert (
        llama1b.dim,
        llama1b.n_layers,
        llama1b.n_heads,
        llama1b.n_kv_heads,
        llama1b.ffn_hidden,
        llama1b.vocab_size,
        llama1b.tie_embeddings,
    ) == (2048, 16, 32, 8, 8192, 128256, True)
    assert llama1b.rope_scaling is not None and llama1b.rope_theta == 500000
    assert (llama8b.dim, llama8b.n_layers, llama8b.ffn_hidden, llama8b.tie_embeddings) == (
        4096,
        32,
        14336,
        False,
    )


def test_every_leaf_is_a_command_line_option():
    cfg = config.from_args(
        [
            "--model.rope-scaling.factor",
            "8",
            "--model.rope-scaling.low-freq-factor",
            "1",
            "--model.rope-scaling.high-freq-factor",
            "4",
            "--model.rope-scaling.original-max-seq-len",
            "1024",
            "--data.source",
            "local",
            "--data.path",
            "corpus",
            "--parallel.compile",
            "true",
            "--checkpoint.export",
            "none",
            "--metrics.peak_tflops",
            "312",
        ]
    )
    assert cfg.model.rope_scaling.factor == 8
    assert (cfg.data.source, cfg.data.path, cfg.parallel.compile) == ("local", "corpus", True)
    assert cfg.checkpoint.export is None and cfg.metrics.peak_tflops == 312


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--micro-batch-size", "3"],
            "global_batch_size=8: must be a multiple of micro_batch_size=3",
        ),
        (["--seq-len", "512"], "seq_len=512: above the model's maximum model.max_seq_len=256"),
        (["--model.dim", "66"], "model.dim=66: must be divisible by model.n_heads=4"),
        (["--model.n-kv-heads", "3"], "model.n_kv_heads=3: must divide model.n_heads=4"),
        (
            ["--model.dim", "72", "--model.n-heads", "8", "--model.n-kv-heads", "8"],
            "RoPE needs an even head size",
        ),
        (["--data.source", "hf"], "data.path: required with data.source=hf"),
        (["--data.num-shards", "3"], "data.num_shards=3: must divide global_batch_size=8"),
        (["--stop-at", "200", "--max-steps", "100"], "stop_at=200: after max_steps=100"),
        (["--optim.lr", "0"], "optim.lr='0': Input should be greater than 0"),
        (["--max-steps", "many"], "max_steps='many': Input should be a valid integer"),
        (["--data.source", "s3"], "data.source='s3': Input should be 'synthetic', 'local' or 'hf'"),
    ],
)
def test_bad_values_are_named(args, message):
    with pytest.raises(config.ConfigError) as e:
        config.from_args(args)
    assert any(message in issue for issue in e.value.issues), e.value.issues


def test_all_problems_reported_together():
    with pytest.raises(config.ConfigError) as e:
        config.from_args(["--micro-batch-size", "3", "--seq-len", "512"])
    assert len(e.value.issues) == 2


def test_world_size_checks():
    cfg = config.build("tiny", {"global_batch_size": 8, "micro_batch_size": 4})
    cfg.check_world(2)
    assert cfg.grad_accum_steps(1) == 2 and cfg.grad_accum_steps(2) == 1
    with pytest.raises(config.ConfigError, match=r"micro_batch_size x ranks = 4 x 4"):
        cfg.check_world(4)
    odd = config.build("tiny", {"global_batch_size": 6, "micro_batch_size": 1})
    with pytest.raises(config.ConfigError, match=r"data.num_shards=6: must be a multiple of the 4"):
        odd.check_world(4)


def test_validation_sequences_split_evenly_over_the_ranks_when_validating():
    batch = {"global_batch_size": 16, "micro_batch_size": 4}
    cfg = config.build("tiny", {**batch, "metrics": {"val_interval": 5, "val_sequences": 10}})
    cfg.check_world(2)
    with pytest.raises(config.ConfigError, match=r"metrics.val_sequences=10: must be a multiple"):
        cfg.check_world(4)
    config.build("tiny", {**batch, "metrics": {"val_sequences": 10}}).check_world(4)  # no val


def test_unknown_option_and_preset_are_refused(capsys):
    with pytest.raises(SystemExit):
        config.from_args(["--model.width", "3"])
    assert "unrecognized arguments: --model.width" in capsys.readouterr().err
    with pytest.raises(config.ConfigError, match="preset='huge': unknown"):
        config.build("huge")


def test_unwritable_checkpoint_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(config.ConfigError, match=r"checkpoint.dir=.*: not writable"):
        config.check_writable(str(blocker / "ckpt"))
    config.check_writable(str(tmp_path / "new" / "dir"))
    assert list((tmp_path / "new" / "dir").iterdir()) == []


def test_help_describes_every_option_with_its_default():
    """`python -m trainer --help` itself: every config field's description is shown."""
    fields = config._fields(config.TrainConfig)
    assert len(fields) > 50
    missing = [path for path, field, _ in fields if not (field.description or "").strip()]
    assert not missing, f"config fields without a description: {missing}"
    p = subprocess.run(
        [sys.executable, "-m", "trainer", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    # argparse re-wraps the text: compare without whitespace.
    shown = "".join(p.stdout.split())
    for path, field, _ in fields:
        assert "".join(field.description.split()) in shown, path
    for action in config.parser()._actions:
        if action.dest != "help":
            assert action.help and "default" in action.help, action.option_strings


def test_help_shows_the_default_each_preset_gives():
    helps = {a.dest: a.help for a in config.parser()._actions}
    # Presets override the field defaults: the help names what a run would get.
    lr = {name: config.build(name).optim.lr for name in config.PRESETS}
    assert lr["tiny"] == 3e-3 and "tiny 0.003" in helps["optim.lr"]
    assert helps["checkpoint.keep"].endswith("(default: 3)")
    assert helps["checkpoint.export"].endswith("(default: none)")
    assert "by preset: tiny 4, small 8, llama3-1b 2, llama3-8b 1" in helps["micro_batch_size"]
    assert helps["parallel.activation_checkpointing"].endswith("(default: auto)")


def test_metrics_progress_is_gone(capsys):
    """Nothing read it: it is refused on the command line and in a stack's job args."""
    with pytest.raises(SystemExit) as e:
        config.from_args(["--metrics.progress", "bar"])
    assert e.value.code == 2
    assert "unrecognized arguments: --metrics.progress" in capsys.readouterr().err
    with pytest.raises(config.ConfigError, match="metrics.progress"):
        config.build("tiny", {"metrics.progress": "bar"})
