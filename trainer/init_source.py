"""Where `model.init_from` points: today a local (or mounted) directory only.

`resolve_init_from` is the one place a spec becomes a directory; hub ids (`hf://`) and S3
prefixes (`s3://`) are refused here until their downloads are wired in.
"""

from __future__ import annotations

from pathlib import Path

from .config_sections import ConfigError

KEY = "model.init_from"
_LATER = ("hf://", "s3://")


def resolve_init_from(spec: str) -> Path:
    """The local directory holding config.json and the *.safetensors weights of `spec`."""
    if spec.startswith(_LATER):
        scheme = spec.split("://", 1)[0]
        raise ConfigError(
            [f"{KEY}={spec}: {scheme}:// is not supported yet; give a local directory"]
        )
    path = Path(spec).expanduser()
    if path.is_file():
        hint = (
            " (a .pt export of an older trainer cannot be loaded: export its checkpoint again "
            "with `python -m trainer.export CHECKPOINT DIR`)"
            if path.suffix == ".pt"
            else ""
        )
        raise ConfigError([f"{KEY}={spec}: a file, not a model directory{hint}"])
    if not path.is_dir():
        raise ConfigError([f"{KEY}={spec}: no such directory"])
    if not (path / "config.json").is_file():
        raise ConfigError([f"{KEY}={spec}: no config.json in this directory"])
    return path
