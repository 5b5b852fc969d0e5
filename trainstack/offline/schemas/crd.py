"""Custom resources: the pinned CRD for a group/kind, its schema made strict, and the object
prepared the way the API server prepares it on create.

A kind is looked up in ``crd_dir()`` by group + kind, then ``spec.versions[name=<version>]``
(which must be served), and validated with jsonschema (Draft 7) against a transformed deep copy
of ``schema.openAPIV3Schema`` (built once per CRD version and cached):

* every object schema with ``properties`` but no ``additionalProperties`` and no
  ``x-kubernetes-preserve-unknown-fields: true`` is closed (``additionalProperties: false``),
  mirroring server-side apply's strict field validation (not inside anyOf/allOf/oneOf/not, which
  in structural schemas only carry value constraints);
* ``x-kubernetes-int-or-string: true`` accepts an integer or a string;
* ``nullable: true`` accepts null.

Before validation null values of non-nullable fields are pruned and schema ``default``s applied
(so e.g. a NodePool without ``spec.disruption`` gets the defaulted budgets before its CEL rules
run). ``x-kubernetes-list-type: map`` / ``set`` uniqueness is checked as well.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .. import crds
from ..crds import ENV_CRD_DIR
from .errors import Err, SchemaUnavailable, short

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_dir() -> Path:
    """Directory holding the upstream CRD YAMLs: $TRAINSTACK_CRD_DIR, else the user cache."""
    env = os.environ.get(ENV_CRD_DIR)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        raise SchemaUnavailable(f"{ENV_CRD_DIR}={env!r} is not a directory; {crds.HOW_TO_PROVIDE}")
    cache = crds.cache_dir()
    if cache.is_dir():
        return cache
    raise SchemaUnavailable(f"no CRDs in {cache}; {crds.HOW_TO_PROVIDE}")


def pinned(group: str, kind: str) -> bool:
    return any(c.group == group and c.kind == kind for c in crds.PINNED)


def pinned_but_missing(group: str, kind: str, directory: Path | None) -> SchemaUnavailable:
    """A kind the stack pins a CRD for, whose file this machine lacks: unavailable, not unknown."""
    file = next(c.file for c in crds.PINNED if c.group == group and c.kind == kind)
    return SchemaUnavailable(
        f"{kind}: its pinned CRD is not in {directory}; {crds.HOW_TO_PROVIDE}", crd=file
    )


@dataclasses.dataclass(frozen=True)
class CrSchema:
    source: str
    schema: dict
    validator: Any


@functools.cache
def _load_crd_file(path: str) -> tuple[dict, ...]:
    with open(path, encoding="utf-8") as fh:
        docs = list(yaml.load_all(fh, Loader=_YAML_LOADER))
    return tuple(
        d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
    )


def _find_crd(directory: str, group: str, kind: str) -> tuple[str, dict] | None:
    group_line = re.compile(rf"^\s*group:\s*['\"]?{re.escape(group)}['\"]?\s*$", re.M)
    for path in sorted(Path(directory).iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
            continue
        # Cheap pre-filter so that unrelated (large) CRDs are never parsed.
        if path.suffix != ".json" and not group_line.search(path.read_text(encoding="utf-8")):
            continue
        for crd in _load_crd_file(str(path)):
            spec = crd.get("spec") or {}
            if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
                return str(path), crd
    return None


@functools.cache
def custom_schema(directory: str, group: str, version: str, kind: str) -> CrSchema | str | None:
    """Compiled schema for a custom resource; an error string if the version is not served;
    None if no CRD defines group/kind."""
    found = _find_crd(directory, group, kind)
    if found is None:
        return None
    path, crd = found
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [v.get("name") for v in versions if v.get("served")]
    for entry in versions:
        if entry.get("name") != version:
            continue
        if not entry.get("served"):
            break
        raw = (entry.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(raw, dict):
            return f"CRD {Path(path).name} has no openAPIV3Schema for version {version}"
        strict = _closed_schema(raw)
        return CrSchema(path, strict, jsonschema.Draft7Validator(strict))
    return (
        f"CRD {Path(path).name} does not serve {group}/{version} "
        f"(served: {', '.join(map(str, served)) or 'none'})"
    )


def _closed_schema(schema: dict) -> dict:
    out = copy.deepcopy(schema)
    _close(out, close=True)
    return out


def _close(s: Any, close: bool) -> None:
    if not isinstance(s, dict):
        return
    if s.get("x-kubernetes-int-or-string") is True and "anyOf" not in s and "oneOf" not in s:
        s.pop("type", None)
        s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if s.get("nullable") is True:
        if isinstance(s.get("type"), str):
            s["type"] = [s["type"], "null"]
        if isinstance(s.get("enum"), list) and None not in s["enum"]:
            s["enum"] = [*s["enum"], None]
    if (
        close
        and "properties" in s
        and "additionalProperties" not in s
        and s.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        s["additionalProperties"] = False
    for sub in (s.get("properties") or {}).values():
        _close(sub, close)
    for key in ("items", "additionalProperties"):
        sub = s.get(key)
        if isinstance(sub, dict):
            _close(sub, close)
        elif isinstance(sub, list):
            for item in sub:
                _close(item, close)
    # Junctors only carry value validations in structural schemas: never close them.
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in s.get(key) or ():
            _close(sub, close=False)
    if isinstance(s.get("not"), dict):
        _close(s["not"], close=False)


def sub_schema(schema: dict, key: str) -> dict | None:
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def prune_and_default(schema: Any, data: Any) -> None:
    """In place: drop nulls of non-nullable fields, then apply schema defaults (top-down)."""
    if not isinstance(schema, dict):
        return
    if isinstance(data, dict):
        for key in [k for k, v in data.items() if v is None]:
            sub = sub_schema(schema, key)
            if sub is not None and not sub.get("nullable"):
                del data[key]
        for key, sub in (schema.get("properties") or {}).items():
            if key not in data and isinstance(sub, dict) and "default" in sub:
                data[key] = copy.deepcopy(sub["default"])
        for key, value in data.items():
            sub = sub_schema(schema, key)
            if sub is not None:
                prune_and_default(sub, value)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            prune_and_default(schema["items"], item)


def walk(schema: Any, data: Any, path: list) -> Iterator[tuple[dict, Any, list]]:
    """Every (schema node, value, path) of an object, walking data and schema together; null
    values are skipped (the API server validates only non-null values)."""
    if not isinstance(schema, dict) or data is None:
        return
    yield schema, data, path
    if isinstance(data, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(data):
                yield from walk(items, item, path + [i])
    elif isinstance(data, dict):
        for key, value in data.items():
            sub = sub_schema(schema, key)
            if sub is not None:
                yield from walk(sub, value, path + [key])


def list_type_errors(schema: dict, data: Any, path: list) -> list[Err]:
    """Duplicates in an ``x-kubernetes-list-type: set`` or ``map`` list."""
    list_type = schema.get("x-kubernetes-list-type")
    if not isinstance(data, list) or list_type not in ("set", "map"):
        return []
    out: list[Err] = []
    map_keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        if list_type == "map" and isinstance(item, dict):
            ident = json.dumps([item.get(k) for k in map_keys])
            label = ", ".join(f"{k}={item.get(k)!r}" for k in map_keys)
        else:
            ident = json.dumps(item, sort_keys=True, default=str)
            label = short(repr(item), 80)
        if ident in seen:
            out.append((path + [i], f"duplicate entry ({label}); same as [{seen[ident]}]"))
        else:
            seen[ident] = i
    return out
