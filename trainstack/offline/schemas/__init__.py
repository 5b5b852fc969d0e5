"""Offline validation of rendered Kubernetes objects against real schemas (no cluster).

Public API
----------
``validate_object(obj, kubernetes_version="1.34") -> list[str]``
    Human-readable errors for one object (empty list when valid). Every error reads
    ``"<Kind>/<name>: <path>: <message>"`` where ``<path>`` is the JSON path of the problem,
    e.g. ``NodePool/gpu: spec.template.spec.requirements[0].key: label domain "karpenter.sh"
    is restricted (x-kubernetes-validations rule)``.
``validate_all(objs, kubernetes_version="1.34") -> dict[str, list[str]]``
    ``{"<Kind>/<name>": errors}`` for the invalid objects only.
``crd_dir() -> Path``
    Directory of the pinned upstream CRD YAMLs: ``$TRAINSTACK_CRD_DIR`` if set, else the user
    cache that ``trainstack crds`` fills (see ``trainstack.offline.crds``); raises
    ``SchemaUnavailable`` otherwise.
``resolve_kubernetes_version(v) -> str``
    The kubernetes-validate schema version used for a requested cluster version.
``cel_rule_coverage(api_version, kind) -> dict[str, list[str]]``
    Which CEL rules of a CRD are evaluated here, skipped as transition rules, or unchecked.

The modules, one job each: ``builtin`` (built-in kinds, kubernetes-validate's strict schemas),
``crd`` (custom resources: the pinned CRD's schema made strict, pruning and defaulting,
list-type uniqueness), ``metadata`` (ObjectMeta rules), ``cel`` (the CRDs' CEL rules, evaluated
with cel-python), ``errors`` (error type and jsonschema error translation).

Null-valued fields are dropped before built-in kinds are validated (the API server decodes them
as unset). An apiVersion/kind with no schema at all is an error, not a pass. Validating a
non-built-in kind needs ``crd_dir()``; if it cannot be found ``SchemaUnavailable`` propagates.
Runtime checks done by controllers/webhooks (e.g. Karpenter's well-known-label checks,
training-operator's "container named pytorch") are out of scope.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..crds import ENV_CRD_DIR
from . import builtin, cel, crd
from .builtin import resolve_kubernetes_version
from .crd import crd_dir
from .errors import Err, SchemaUnavailable, schema_errors
from .metadata import metadata_errors

__all__ = [
    "ENV_CRD_DIR",
    "SchemaUnavailable",
    "cel_rule_coverage",
    "crd_dir",
    "resolve_kubernetes_version",
    "validate_all",
    "validate_object",
]


def cel_rule_coverage(api_version: str, kind: str) -> dict[str, list[str]]:
    """CEL rules of the CRD for apiVersion/kind, as ``"<schema path>: <rule>"`` strings, split into
    ``checked`` (evaluated here), ``transition`` (use oldSelf: update-only, not applicable to a
    create) and ``unchecked`` (they do not compile here, e.g. call an unregistered function)."""
    group, _, version = api_version.rpartition("/")
    directory = crd_dir()
    cr = crd.custom_schema(str(directory), group, version, kind)
    if cr is None and crd.pinned(group, kind):
        raise crd.pinned_but_missing(group, kind, directory)
    if not isinstance(cr, crd.CrSchema):
        raise LookupError(cr or f"no CRD for {api_version} {kind} in {directory}")
    return cel.coverage(cr.schema)


# --------------------------------------------------------------------------- formatting

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _format_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(str(part))}]"
    return text or "<root>"


def _ident(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        return "<not an object>"
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) and obj.get("kind") else "<no kind>"
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return f"{kind}/{name if isinstance(name, str) and name else '<no name>'}"


def _format(ident: str, errors: list[Err]) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for path, message in errors:
        line = f"{ident}: {_format_path(path)}: {message}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def _without_nulls(data: Any) -> Any:
    """Copy without null-valued map entries: the API server decodes them as unset fields."""
    if isinstance(data, Mapping):
        return {k: _without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_nulls(v) for v in data]
    return data


# --------------------------------------------------------------------------- entry points


def _custom_resource_errors(cr: crd.CrSchema, obj: Mapping) -> list[Err]:
    instance = copy.deepcopy(dict(obj))
    crd.prune_and_default(cr.schema, instance)
    errors = schema_errors(cr.validator, instance)
    lenient = bool(errors)  # schema errors already explain a value a rule cannot evaluate
    for node, value, path in crd.walk(cr.schema, instance, []):
        if node.get("x-kubernetes-validations"):
            errors += cel.node_errors(node, value, path, lenient)
        errors += crd.list_type_errors(node, value, path)
    return errors


def validate_object(obj: dict, kubernetes_version: str = "1.34") -> list[str]:
    """Validate one rendered object; returns human-readable errors (empty when valid).

    ``kubernetes_version`` selects the built-in schemas (see ``resolve_kubernetes_version``);
    custom resources are validated against the CRDs in ``crd_dir()`` whatever the version.
    Raises ``SchemaUnavailable`` if a non-built-in kind needs CRDs and none can be found.
    """
    ident = _ident(obj)
    if not isinstance(obj, Mapping):
        return [f"{ident}: <root>: expected a mapping, got {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    errors: list[Err] = []
    if not isinstance(api_version, str) or not api_version:
        errors.append((["apiVersion"], "required field is missing or not a string"))
    if not isinstance(kind, str) or not kind:
        errors.append((["kind"], "required field is missing or not a string"))
    if errors:
        return _format(ident, errors)

    group, _, version = api_version.rpartition("/")
    schema_version = resolve_kubernetes_version(kubernetes_version)
    validator = builtin.validator(schema_version, group, version, kind)
    if validator is not None:
        errors += metadata_errors(obj.get("metadata"), kind, builtin=True)
        errors += schema_errors(validator, _without_nulls(obj))
        return _format(ident, errors)

    directory = crd_dir() if group else None
    cr = crd.custom_schema(str(directory), group, version, kind) if directory is not None else None
    if cr is None and crd.pinned(group, kind):
        raise crd.pinned_but_missing(group, kind, directory)
    if cr is None:
        where = (
            f"no CRD for group {group!r} in {directory}" if group else "core group has no such kind"
        )
        message = (
            f"no schema for apiVersion {api_version!r} kind {kind!r}: not a built-in kind of "
            f"Kubernetes {kubernetes_version} (kubernetes-validate schemas v{schema_version}) "
            f"and {where}"
        )
        return _format(ident, [(["kind"], message)])
    if isinstance(cr, str):
        return _format(ident, [(["apiVersion"], cr)])

    errors += metadata_errors(obj.get("metadata"), kind, builtin=False)
    errors += _custom_resource_errors(cr, obj)
    return _format(ident, errors)


def validate_all(objs: Iterable[dict], kubernetes_version: str = "1.34") -> dict[str, list[str]]:
    """``{"<Kind>/<name>": errors}`` for every invalid object (valid ones are omitted)."""
    result: dict[str, list[str]] = {}
    for obj in objs:
        errors = validate_object(obj, kubernetes_version)
        if errors:
            result.setdefault(_ident(obj), []).extend(errors)
    return result
