"""Built-in kinds, validated against the strict schemas kubernetes-validate ships.

We read its packaged ``v<X.Y.Z>-local-strict`` schema set directly instead of calling
``kubernetes_validate.validate()``, because that function stops at the first error and re-parses
the 1.5 MB ``_definitions.json`` on every call; here one validator per kind is built and cached,
and all errors are reported. An object counts as built-in only if the schema's
``x-kubernetes-group-version-kind`` matches its apiVersion/kind exactly.

Version mapping: kubernetes-validate ships one schema set per minor (x.y.0). A requested version
maps to the newest shipped minor that is not newer than it ("1.34", "v1.34.2" -> 1.34.0); a
version older than every shipped one maps to the oldest shipped.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re

import jsonschema
import referencing

from .errors import SchemaUnavailable


@functools.lru_cache(maxsize=1)
def _shipped_versions() -> tuple[tuple[tuple[int, int], str], ...]:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    found = []
    for entry in root.iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", entry.name)
        if m:
            found.append(((int(m[1]), int(m[2])), f"{m[1]}.{m[2]}.{m[3]}"))
    if not found:
        raise SchemaUnavailable("kubernetes-validate ships no strict schemas")
    return tuple(sorted(found))


def resolve_kubernetes_version(kubernetes_version: str) -> str:
    """Map a cluster version ("1.34", "v1.34.2") to a shipped kubernetes-validate schema version."""
    m = re.match(r"^v?(\d+)\.(\d+)", str(kubernetes_version).strip())
    if not m:
        raise ValueError(f"not a Kubernetes version: {kubernetes_version!r}")
    wanted = (int(m[1]), int(m[2]))
    shipped = _shipped_versions()
    not_newer = [full for minor, full in shipped if minor <= wanted]
    return not_newer[-1] if not_newer else shipped[0][1]


def _strict_dir(schema_version: str):
    return (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / (f"v{schema_version}-local-strict")
    )


@functools.cache
def _registry(schema_version: str) -> referencing.Registry:
    defs = json.loads((_strict_dir(schema_version) / "_definitions.json").read_text())
    return referencing.Resource.from_contents(defs) @ referencing.Registry()


@functools.cache
def validator(schema_version: str, group: str, version: str, kind: str):
    """Validator for a built-in kind, or None if kubernetes-validate has no schema for it."""
    if not re.fullmatch(r"[A-Za-z0-9]+", kind) or not re.fullmatch(r"[a-z0-9]+", version):
        return None
    short_group = group.split(".")[0]
    name = (
        f"{kind.lower()}-{short_group}-{version}.json"
        if group
        else f"{kind.lower()}-{version}.json"
    )
    path = _strict_dir(schema_version) / name
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    if not any(
        g.get("group", "") == group and g.get("version") == version and g.get("kind") == kind
        for g in gvks
    ):
        return None
    registry = referencing.Resource.from_contents(schema) @ _registry(schema_version)
    return jsonschema.Draft202012Validator(schema, registry=registry)
