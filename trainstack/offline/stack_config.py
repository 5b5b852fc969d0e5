"""Load ``Pulumi.<stack>.yaml`` into the shape ``pulumi.runtime.set_all_config`` expects.

The Pulumi CLI hands a program its configuration as a flat ``{namespaced key: string}`` map:
scalars as strings (booleans as ``true``/``false``), structured values JSON-encoded. This module
reproduces that from the stack file, without the CLI, for the offline mock harness:

* un-namespaced keys get the project name as namespace (``cluster`` -> ``trainstack:cluster``);
* ``secure:`` values (at top level or nested) are replaced by a deterministic placeholder
  ``offline-secret-<key path>`` and the top-level key is reported as secret;
* duplicate mapping keys anywhere in the file are an error (PyYAML would silently keep the last
  one, so a typo'd copy-paste of a node group would win without notice).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "StackConfig",
    "StackFileError",
    "available_stacks",
    "load_stack_config",
    "load_stack_file",
]

SECRET_PLACEHOLDER_PREFIX = "offline-secret-"


class StackFileError(Exception):
    """A stack file is missing, unreadable, malformed or ambiguous (duplicate keys)."""


@dataclass
class StackConfig:
    """Configuration of one stack, ready for ``pulumi.runtime.set_all_config``."""

    config: dict[str, str]
    secret_keys: list[str]
    path: Path
    stack: str = ""
    project: str = ""
    # The decoded (un-stringified) values, handy for error messages and the plan command.
    values: dict[str, Any] = field(default_factory=dict)


class _Yaml12BoolLoader(yaml.SafeLoader):
    """SafeLoader whose booleans are only true/false, as in YAML 1.2 (the CLI's parser).

    PyYAML follows YAML 1.1, where ``yes``/``no``/``on``/``off`` are booleans; the Pulumi CLI
    passes them to the program as the strings they are. Dates stay strings too.
    """


_Yaml12BoolLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12BoolLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def available_stacks(project_dir: Path) -> list[str]:
    """Names of the stacks that have a ``Pulumi.<stack>.yaml`` in ``project_dir``."""
    stacks = []
    for p in sorted(Path(project_dir).glob("Pulumi.*.yaml")):
        name = p.name[len("Pulumi.") : -len(".yaml")]
        if name:
            stacks.append(name)
    return stacks


def load_stack_config(project_dir: Path, stack: str, project: str = "trainstack") -> StackConfig:
    """Read ``<project_dir>/Pulumi.<stack>.yaml`` and return its configuration.

    Raises :class:`StackFileError` when the file does not exist (listing the stacks that do), does
    not parse, has a non-mapping ``config:``, or contains a duplicate key anywhere.
    """
    project_dir = Path(project_dir)
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        existing = available_stacks(project_dir)
        listing = ", ".join(existing) if existing else "none"
        raise StackFileError(f"stack file {path} not found; stacks in {project_dir}: {listing}")
    return load_stack_file(path, stack, project)


def load_stack_file(path: Path, stack: str = "", project: str = "trainstack") -> StackConfig:
    """Read a stack file at any path (e.g. the base branch's copy, `git show`-n to a temp
    file) with the same rules as :func:`load_stack_config`; StackFileError when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise StackFileError(f"stack file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackFileError(f"cannot read stack file {path}: {exc}") from exc

    try:
        root = yaml.compose(text, Loader=_Yaml12BoolLoader)
    except yaml.YAMLError as exc:
        raise StackFileError(f"stack file {path} is not valid YAML: {exc}") from exc

    if root is None:
        return StackConfig(config={}, secret_keys=[], path=path, stack=stack, project=project)
    if not isinstance(root, yaml.MappingNode):
        raise StackFileError(f"stack file {path}: top level must be a mapping")

    _check_duplicates(root, path, project, prefix=())

    try:
        data = yaml.load(text, Loader=_Yaml12BoolLoader)
    except yaml.YAMLError as exc:  # pragma: no cover - compose succeeded already
        raise StackFileError(f"stack file {path} is not valid YAML: {exc}") from exc

    raw = data.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"stack file {path}: 'config' must be a mapping")

    config: dict[str, str] = {}
    values: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise StackFileError(f"stack file {path}: config key {key!r} must be a string")
        full_key = _namespaced(key, project)
        if full_key in config:
            # e.g. both `cluster:` and `trainstack:cluster:` in the same file.
            raise StackFileError(
                f"stack file {path}: duplicate key {full_key} "
                f"(given both with and without the '{project}:' namespace)"
            )
        short = full_key.split(":", 1)[1]
        value, has_secret = _replace_secure(value, short)
        if has_secret:
            secret_keys.append(full_key)
        values[full_key] = value
        config[full_key] = _encode(value)

    return StackConfig(
        config=config,
        secret_keys=secret_keys,
        path=path,
        stack=stack,
        project=project,
        values=values,
    )


def _namespaced(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _encode(value: Any) -> str:
    """Encode one config value the way the CLI passes it to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        # The CLI marshals structured values with Go's encoding/json: compact, keys sorted.
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return str(value)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "secure" in value


def _replace_secure(value: Any, path: str) -> tuple[Any, bool]:
    """Replace every ``{secure: ...}`` by a placeholder; report whether any was found."""
    if _is_secure(value):
        return f"{SECRET_PLACEHOLDER_PREFIX}{path}", True
    if isinstance(value, dict):
        out = {}
        found = False
        for k, v in value.items():
            out[k], f = _replace_secure(v, f"{path}.{k}")
            found = found or f
        return out, found
    if isinstance(value, list):
        out_list = []
        found = False
        for i, v in enumerate(value):
            item, f = _replace_secure(v, f"{path}[{i}]")
            out_list.append(item)
            found = found or f
        return out_list, found
    return value, False


def _key_text(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return f"<{node.tag}>"


def _format_path(parts: tuple[str, ...]) -> str:
    text = ""
    for part in parts:
        if part.startswith("["):
            text += part
        elif text:
            text += "." + part
        else:
            text = part
    return text


def _check_duplicates(node: yaml.Node, path: Path, project: str, prefix: tuple[str, ...]) -> None:
    """Walk the composed YAML tree and reject any mapping with a repeated key."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key == "<<":  # merge key: checked through the merged node itself
                _check_duplicates(value_node, path, project, prefix)
                continue
            shown = key
            # Keys directly under `config:` are config keys: show them namespaced.
            if prefix == ("config",):
                shown = _namespaced(key, project)
            line = key_node.start_mark.line + 1
            if key in seen:
                if prefix[:1] == ("config",):
                    key_path = _format_path(prefix[1:] + (shown,))
                else:
                    key_path = _format_path(prefix + (shown,))
                raise StackFileError(
                    f"stack file {path}: duplicate key {key_path} at line {line} "
                    f"(first defined at line {seen[key]})"
                )
            seen[key] = line
            _check_duplicates(value_node, path, project, prefix + (shown,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, path, project, prefix + (f"[{i}]",))
