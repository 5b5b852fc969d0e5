"""One typed config tree for a training run: presets, command-line overrides, validation.

Every leaf is a command-line option named by its path (`--model.dim 512`, `--checkpoint.dir /ckpt`);
the root fields also have a short form (`--max-steps 50`). Each field's description is its
`--help` text, shown with the default every preset gives it. Problems are reported together, each
naming the option, the value and what is allowed.

This module is the command line; the sections are trainer/config_sections.py's, the root model,
presets and `build()` trainer/train_config.py's (all reachable from here).
"""

from __future__ import annotations

import argparse
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

# The tree itself lives in its own modules; `from trainer import config` reaches all of it.
from .config_sections import (  # noqa: F401
    CheckpointConfig,
    ConfigError,
    DataConfig,
    DebugConfig,
    MetricsConfig,
    ModelConfig,
    OptimConfig,
    ParallelConfig,
    RopeScaling,
)
from .train_config import PRESETS, TrainConfig, build, check_writable  # noqa: F401


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, FieldInfo, bool]]:
    """(dotted path, field, whether it is a section) of every field, depth first: a section
    comes before its own fields."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        options = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) else [ann]
        section = next(
            (a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        out.append((f"{prefix}{name}", field, section is not None))
        if section is not None:
            out.extend(_fields(section, f"{prefix}{name}."))
    return out


def _value_at(cfg: BaseModel, path: str) -> Any:
    value: Any = cfg
    for name in path.split("."):
        value = None if value is None else getattr(value, name)
    return value


def _show(value: Any) -> str:
    """A value as it is written on the command line."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_help(path: str, presets: dict[str, TrainConfig]) -> str:
    """The value each preset gives the option: presets override the field defaults."""
    shown = {name: _show(_value_at(cfg, path)) for name, cfg in presets.items()}
    if len(set(shown.values())) == 1:
        return f"default: {next(iter(shown.values()))}"
    return "default by preset: " + ", ".join(f"{name} {v}" for name, v in shown.items())


def _parse_value(text: str) -> Any:
    """Strings go to pydantic as given (it converts "50", "3e-4", "true"); "none" clears a field."""
    return None if text.lower() in ("none", "null") else text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="FSDP2 Llama trainer. Runs alone or under torchrun; resumes from the newest "
        "complete checkpoint in --checkpoint.dir. Every option is a path in the "
        "config; `none` clears an optional value.",
        allow_abbrev=False,
    )
    presets = {name: build(name) for name in PRESETS}
    groups: dict[str, Any] = {"": p}
    for path, field, is_section in _fields(TrainConfig):
        parent = path.rpartition(".")[0]
        if is_section:
            groups[path] = p.add_argument_group(f"{path} options", field.description)
            continue
        if path == "preset":
            p.add_argument(
                "--preset",
                default=field.default,
                choices=list(PRESETS),
                help=f"{field.description} (default: {field.default})",
            )
            continue
        # argparse formats help with %-placeholders.
        text = f"{field.description} ({_default_help(path, presets)})".replace("%", "%%")
        flags = [f"--{path.replace('_', '-')}"]
        if "_" in path:
            flags.append(f"--{path}")
        groups[parent].add_argument(
            *flags,
            dest=path,
            default=argparse.SUPPRESS,
            type=_parse_value,
            metavar=_metavar(field.annotation),
            help=text,
        )
    return p


def _metavar(ann: Any) -> str:
    args = get_args(ann)
    if get_origin(ann) is Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    names = [getattr(a, "__name__", str(a)) for a in (args or (ann,)) if a is not type(None)]
    return "|".join(n.upper() for n in names)


def from_args(argv: list[str] | None = None) -> TrainConfig:
    ns = vars(parser().parse_args(argv))
    preset = ns.pop("preset")
    return build(preset, ns)
