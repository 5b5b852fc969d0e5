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
    cache that ``trainstack crds`` fills (see ``trainstack.offline.crds``); raises ``SchemaUnavailable``
    otherwise.
``resolve_kubernetes_version(v) -> str``
    The kubernetes-validate schema version used for a requested cluster version.
``cel_rule_coverage(api_version, kind) -> dict[str, list[str]]``
    Which CEL rules of a CRD are re-checked here, skipped as transition rules, or unchecked.

Built-in kinds
--------------
Validated against the *strict* schemas shipped by ``kubernetes-validate`` (unknown fields are
errors). We read its packaged ``v<X.Y.Z>-local-strict`` schema set directly instead of calling
``kubernetes_validate.validate()``, because that function stops at the first error and re-parses
the 1.5 MB ``_definitions.json`` on every call; here one validator per kind is built and cached,
and all errors are reported. Null-valued fields are dropped first (the API server decodes them
as unset). An object counts as built-in only if the schema's
``x-kubernetes-group-version-kind`` matches its apiVersion/kind exactly.

Version mapping: kubernetes-validate 1.37 ships schemas for 1.25 … 1.37 (one per minor, x.y.0).
A requested version maps to the newest shipped minor that is not newer than it ("1.34",
"v1.34.2" -> 1.34.0); a version older than every shipped one maps to the oldest shipped.

Custom resources
----------------
Looked up in ``crd_dir()`` by group + kind, then ``spec.versions[name=<version>]`` (must be
served), and validated with jsonschema (Draft 7) against a transformed deep copy of
``schema.openAPIV3Schema`` (built once per CRD version and cached):

* every object schema with ``properties`` but no ``additionalProperties`` and no
  ``x-kubernetes-preserve-unknown-fields: true`` is closed (``additionalProperties: false``),
  mirroring server-side apply's strict field validation (not applied inside anyOf/allOf/oneOf/not,
  which in structural schemas only carry value constraints);
* ``x-kubernetes-int-or-string: true`` accepts an integer or a string;
* ``nullable: true`` accepts null.

Before validation the object is prepared the way the API server does on create: null values of
non-nullable fields are pruned and schema ``default``s are applied (so e.g. a NodePool without
``spec.disruption`` gets the defaulted budgets before CEL rules are checked).
``x-kubernetes-list-type: map`` / ``set`` uniqueness is checked as well.

``metadata`` is only ``type: object`` in CRDs, so it is checked here for every kind: ``name``
required (DNS-1123 subdomain; DNS-1123 label for Namespace, DNS-1035 label for Service,
path-segment name for RBAC kinds), ``namespace`` a DNS-1123 label, labels and annotations
string->string with valid qualified-name keys and valid label values, annotations <= 256 KiB;
for custom resources also unknown ObjectMeta fields.

An apiVersion/kind with no schema at all is an error, not a pass. Validating a non-built-in kind
needs ``crd_dir()``; if it cannot be found ``SchemaUnavailable`` propagates.

CEL rules (``x-kubernetes-validations``)
----------------------------------------
jsonschema does not evaluate CEL. Rules are re-implemented in plain Python, keyed by their exact
rule text (so a changed rule in a newer CRD pin shows up as "unchecked" in
``cel_rule_coverage``, which the tests assert is empty for the Karpenter kinds), and evaluated at
the schema location that carries them. A rule whose evaluation would fail (e.g. a missing field)
counts as violated, like in the API server, unless the object already has schema errors.

Re-checked — NodePool (karpenter.sh/v1):
  * requirements[].key and template.metadata.labels keys: restricted label domains
    "karpenter.sh" (except capacity-type/nodepool) and "karpenter.k8s.aws" (except the allow-list
    read from the rule itself); "karpenter.sh/nodepool" and "kubernetes.io/hostname" restricted;
  * requirements: operator In needs values; Gt/Lt/Gte/Lte need exactly one non-negative integer
    value; minValues <= number of values for In;
  * nodeClassRef group/kind/name non-empty;
  * disruption.budgets: schedule set iff duration set;
  * static NodePools (replicas set): only limits.nodes, no weight.
Re-checked — EC2NodeClass (karpenter.k8s.aws/v1):
  * role xor instanceProfile, neither empty;
  * amiSelectorTerms: each term needs tags/id/name/alias/ssmParameter; id and alias each
    mutually exclusive with the other fields; an alias term must be the only term; alias format
    family@version, supported family, Windows only @latest; amiFamily must match the alias family
    (or be Custom) and is required without an alias;
  * subnet/securityGroup/capacityReservation selector terms: non-empty lists, each term needs
    tags or id (or name / instanceMatchCriteria), id/name exclusivity rules (faithful to the CRD's
    ``!self.all(...)`` form, i.e. rejected only when *every* term mixes them), no empty tag
    keys/values;
  * spec.tags: no empty keys, no restricted keys (eks:eks-cluster-name, kubernetes.io/cluster*,
    karpenter.sh/nodepool, karpenter.sh/nodeclaim, karpenter.k8s.aws/ec2nodeclass);
  * blockDeviceMappings: at most one rootVolume; ebs needs snapshotID or volumeSize;
    volumeInitializationRate needs snapshotID;
  * kubelet: evictionHard/Soft/SoftGracePeriod keys, kubeReserved/systemReserved keys and
    non-negative values, imageGC high > low, evictionSoft <-> evictionSoftGracePeriod keys;
  * networkInterfaces primary interface and uniqueness, placementGroupSelector name xor id,
    connectionTracking needs a timeout.
Re-checked — RayJob/RayCluster (ray.io/v1): deletionStrategy / deletionRules condition rules,
managedBy allowed values.
Not re-checked: transition rules referring to ``oldSelf`` (NodePool replicas mode switch and
nodeClassRef group/kind immutability, PyTorchJob schedulingPolicy.queue, Ray managedBy/backend
immutability) — the API server only evaluates them on update, never on create. Runtime checks
done by controllers/webhooks (e.g. Karpenter's well-known-label checks, training-operator's
"container named pytorch") are out of scope.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import importlib.resources
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml

from components import k8s_names

from . import crds
from .crds import ENV_CRD_DIR

__all__ = [
    "ENV_CRD_DIR",
    "SchemaUnavailable",
    "cel_rule_coverage",
    "crd_dir",
    "resolve_kubernetes_version",
    "validate_all",
    "validate_object",
]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# An error before formatting: (path parts, message).
_Err = tuple[list[Any], str]


class SchemaUnavailable(RuntimeError):
    """The schemas needed for validation cannot be found on disk."""


# --------------------------------------------------------------------------- CRD directory


def _pinned(group: str, kind: str) -> bool:
    return any(c.group == group and c.kind == kind for c in crds.PINNED)


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


# --------------------------------------------------------------------------- built-in kinds


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
def _builtin_registry(schema_version: str) -> referencing.Registry:
    defs = json.loads((_strict_dir(schema_version) / "_definitions.json").read_text())
    return referencing.Resource.from_contents(defs) @ referencing.Registry()


@functools.cache
def _builtin_validator(schema_version: str, group: str, version: str, kind: str):
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
    registry = referencing.Resource.from_contents(schema) @ _builtin_registry(schema_version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --------------------------------------------------------------------------- custom resources


@dataclasses.dataclass(frozen=True)
class _CrSchema:
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
def _custom_schema(directory: str, group: str, version: str, kind: str) -> _CrSchema | str | None:
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
        return _CrSchema(path, strict, jsonschema.Draft7Validator(strict))
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


def _sub_schema(schema: dict, key: str) -> dict | None:
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _prune_and_default(schema: Any, data: Any) -> None:
    """In place: drop nulls of non-nullable fields, then apply schema defaults (top-down)."""
    if not isinstance(schema, dict):
        return
    if isinstance(data, dict):
        for key in [k for k, v in data.items() if v is None]:
            sub = _sub_schema(schema, key)
            if sub is not None and not sub.get("nullable"):
                del data[key]
        for key, sub in (schema.get("properties") or {}).items():
            if key not in data and isinstance(sub, dict) and "default" in sub:
                data[key] = copy.deepcopy(sub["default"])
        for key, value in data.items():
            sub = _sub_schema(schema, key)
            if sub is not None:
                _prune_and_default(sub, value)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            _prune_and_default(schema["items"], item)


# --------------------------------------------------------------------------- jsonschema errors


def _suggestion(key: str, schema: Mapping) -> str:
    props = schema.get("properties") or {}
    close = difflib.get_close_matches(key, list(props), n=1, cutoff=0.8)
    if close:
        return f' (did you mean "{close[0]}"?)'
    for name, sub in props.items():
        if isinstance(sub, dict) and isinstance(sub.get("items"), dict):
            sub = sub["items"]
        if isinstance(sub, dict) and key in (sub.get("properties") or {}):
            return f' (it belongs under "{name}")'
    return ""


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_errors(validator: Any, instance: Any) -> list[_Err]:
    out: list[_Err] = []
    for err in validator.iter_errors(instance):
        path = list(err.absolute_path)
        if (
            err.validator == "additionalProperties"
            and err.validator_value is False
            and isinstance(err.instance, dict)
        ):
            props = err.schema.get("properties") or {}
            patterns = err.schema.get("patternProperties") or {}
            for key in err.instance:
                if key in props or any(re.search(p, key) for p in patterns):
                    continue
                out.append((path + [key], f'unknown field "{key}"' + _suggestion(key, err.schema)))
        elif err.validator == "required" and isinstance(err.instance, dict):
            for key in err.validator_value:
                if key not in err.instance:
                    out.append((path + [key], "required field is missing"))
        else:
            out.append((path, _short(err.message)))
    return out


# --------------------------------------------------------------------------- metadata

# Name and label syntax: one definition, shared with the config checks.
_dns1123_subdomain = k8s_names.dns1123_subdomain
_dns1123_label = k8s_names.dns1123_label
_dns1035_label = k8s_names.dns1035_label
_qualified_name = k8s_names.qualified_name
_label_value = k8s_names.label_value


def _path_segment(v: str) -> str | None:
    if v in (".", "..") or "/" in v or "%" in v:
        return "may not be '.' or '..' and may not contain '/' or '%'"
    return None


_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_MAX_ANNOTATIONS_BYTES = 256 * 1024


def _metadata_errors(meta: Any, kind: str, builtin: bool) -> list[_Err]:
    out: list[_Err] = []
    if meta is None:
        return [(["metadata", "name"], "required field is missing")]
    if not isinstance(meta, dict):
        return [] if builtin else [(["metadata"], "must be an object")]
    if not builtin:
        for key in meta:
            if key not in _OBJECT_META_FIELDS:
                out.append(
                    (
                        ["metadata", key],
                        f'unknown field "{key}"'
                        + _suggestion(key, {"properties": dict.fromkeys(_OBJECT_META_FIELDS)}),
                    )
                )
    name = meta.get("name")
    if name is None:
        out.append((["metadata", "name"], "required field is missing"))
    elif not isinstance(name, str):
        if not builtin:
            out.append((["metadata", "name"], "must be a string"))
    else:
        if builtin and kind == "Namespace":
            check = _dns1123_label
        elif builtin and kind == "Service":
            check = _dns1035_label
        elif builtin and kind in _RBAC_KINDS:
            check = _path_segment
        else:
            check = _dns1123_subdomain
        problem = "must not be empty" if name == "" else check(name)
        if problem:
            out.append((["metadata", "name"], f"invalid name {name!r}: {problem}"))
    namespace = meta.get("namespace")
    if isinstance(namespace, str):
        problem = _dns1123_label(namespace)
        if problem:
            out.append((["metadata", "namespace"], f"invalid namespace {namespace!r}: {problem}"))
    elif namespace is not None and not builtin:
        out.append((["metadata", "namespace"], "must be a string"))

    for field in ("labels", "annotations"):
        mapping = meta.get(field)
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            if not builtin:
                out.append((["metadata", field], "must be a map of string to string"))
            continue
        for key, value in mapping.items():
            path = ["metadata", field, key]
            if not isinstance(key, str):
                out.append((path, "key must be a string"))
                continue
            problem = _qualified_name(key if field == "labels" else key.lower())
            if problem:
                out.append((path, f"invalid key {key!r}: {problem}"))
            if not isinstance(value, str):
                if not builtin:
                    out.append((path, f"value must be a string, got {type(value).__name__}"))
            elif field == "labels":
                problem = _label_value(value)
                if problem:
                    out.append((path, f"invalid label value {value!r}: {problem}"))
        if field == "annotations":
            size = sum(len(str(k)) + len(str(v)) for k, v in mapping.items())
            if size > _MAX_ANNOTATIONS_BYTES:
                out.append((["metadata", "annotations"], f"total size {size} exceeds 256 KiB"))
    finalizers = meta.get("finalizers")
    if (
        not builtin
        and finalizers is not None
        and (not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers))
    ):
        out.append((["metadata", "finalizers"], "must be a list of strings"))
    return out


# --------------------------------------------------------------------------- CEL re-checks


def _has(obj: Any, key: str) -> bool:
    return isinstance(obj, dict) and obj.get(key) is not None


def _keys(value: Any) -> list:
    """Rules written as ``self.all(x, ...)`` over a map iterate its keys."""
    return list(value) if isinstance(value, dict) else [value]


def _domain_of(key: str) -> str:
    m = re.match(r"[^/]+", key)  # CEL: key.find("^([^/]+)")
    return m.group(0) if m else ""


_EVICTION_SIGNALS = frozenset(
    {
        "memory.available",
        "nodefs.available",
        "nodefs.inodesFree",
        "imagefs.available",
        "imagefs.inodesFree",
        "pid.available",
    }
)
_RESERVED_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pid"})
_ALIAS_FAMILIES = {
    "al2": "AL2",
    "al2023": "AL2023",
    "bottlerocket": "Bottlerocket",
    "windows2019": "Windows2019",
    "windows2022": "Windows2022",
    "windows2025": "Windows2025",
}
_WINDOWS_FAMILIES = ("windows2019", "windows2022", "windows2025")
_CEL_INT = re.compile(r"[+-]?[0-9]+")


def _cel_int(text: Any) -> int:
    if not isinstance(text, str) or not _CEL_INT.fullmatch(text):
        raise ValueError(f"int({text!r})")
    return int(text)


def _requirement_bounds_ok(reqs: list) -> bool:
    for x in reqs:
        if x["operator"] in ("Gt", "Lt", "Gte", "Lte"):
            if not (len(x["values"]) == 1 and _cel_int(x["values"][0]) >= 0):
                return False
    return True


def _network_interfaces_unique(nics: list) -> bool:
    for x in nics:
        same_slot = [
            y
            for y in nics
            if y["networkCardIndex"] == x["networkCardIndex"]
            and y["deviceIndex"] == x["deviceIndex"]
        ]
        if len(same_slot) != 1:
            return False
        if x["interfaceType"] == "efa-only":
            efa_on_card = [
                y
                for y in nics
                if y["networkCardIndex"] == x["networkCardIndex"]
                and y["interfaceType"] == "efa-only"
            ]
            if len(efa_on_card) != 1:
                return False
    return True


def _alias_family_matches(family: str, ami_family: str, spec: dict) -> bool:
    if not _has(spec, "amiFamily"):
        return True
    uses_alias = any(
        _has(t, "alias") and _alias_family(t["alias"]) == family for t in spec["amiSelectorTerms"]
    )
    return spec["amiFamily"] in ("Custom", ami_family) if uses_alias else True


def _alias_family(alias: str) -> str:
    m = re.match(r"[^@]+", alias)  # CEL: alias.find('^[^@]+')
    return m.group(0) if m else ""


_CEL_SOURCE: dict[str, Callable[[Any], bool]] = {
    # ---- shared
    "self != ''": lambda s: s != "",
    "self.all(k, k != '' && self[k] != '')": lambda s: all(k != "" and s[k] != "" for k in s),
    # ---- NodePool (karpenter.sh/v1)
    "!has(self.replicas) || (!has(self.limits) || size(self.limits) == 0 || "
    "(size(self.limits) == 1 && 'nodes' in self.limits))": lambda s: (
        not _has(s, "replicas")
        or not _has(s, "limits")
        or len(s["limits"]) == 0
        or (len(s["limits"]) == 1 and "nodes" in s["limits"])
    ),
    "!has(self.replicas) || !has(self.weight)": lambda s: (
        not _has(s, "replicas") or not _has(s, "weight")
    ),
    "self.all(x, has(x.schedule) == has(x.duration))": lambda s: all(
        _has(x, "schedule") == _has(x, "duration") for x in s
    ),
    'self.all(x, x != "karpenter.sh/nodepool")': lambda s: all(
        k != "karpenter.sh/nodepool" for k in s
    ),
    'self.all(x, x != "kubernetes.io/hostname")': lambda s: all(
        k != "kubernetes.io/hostname" for k in s
    ),
    'self != "karpenter.sh/nodepool"': lambda s: s != "karpenter.sh/nodepool",
    'self != "kubernetes.io/hostname"': lambda s: s != "kubernetes.io/hostname",
    "self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)": lambda s: all(
        len(x["values"]) != 0 for x in s if x["operator"] == "In"
    ),
    "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || "
    "x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)": _requirement_bounds_ok,
    "self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)": lambda s: (
        all(
            len(x["values"]) >= x["minValues"]
            for x in s
            if x["operator"] == "In" and _has(x, "minValues")
        )
    ),
    # ---- EC2NodeClass (karpenter.k8s.aws/v1)
    "(has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))": lambda s: (
        _has(s, "role") != _has(s, "instanceProfile")
    ),
    "self.amiSelectorTerms.exists(x, has(x.alias)) ? true : has(self.amiFamily)": lambda s: (
        any(_has(t, "alias") for t in s["amiSelectorTerms"]) or _has(s, "amiFamily")
    ),
    "self.all(x, has(x.tags) || has(x.id) || has(x.name) || has(x.alias) || has(x.ssmParameter))": lambda s: (
        all(any(_has(x, f) for f in ("tags", "id", "name", "alias", "ssmParameter")) for x in s)
    ),
    "!self.exists(x, has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))": lambda s: (
        not any(
            _has(x, "id") and any(_has(x, f) for f in ("alias", "tags", "name", "owner")) for x in s
        )
    ),
    "!self.exists(x, has(x.alias) && (has(x.id) || has(x.tags) || has(x.name) || has(x.owner)))": lambda s: (
        not any(
            _has(x, "alias") and any(_has(x, f) for f in ("id", "tags", "name", "owner")) for x in s
        )
    ),
    "!(self.exists(x, has(x.alias)) && self.size() != 1)": lambda s: (
        not (any(_has(x, "alias") for x in s) and len(s) != 1)
    ),
    "self.matches('^[a-zA-Z0-9]+@.+$')": lambda s: re.search(r"^[a-zA-Z0-9]+@.+$", s) is not None,
    "self.split('@')[0] in ['al2','al2023','bottlerocket','windows2019','windows2022','windows2025']": lambda s: (
        s.split("@")[0] in _ALIAS_FAMILIES
    ),
    "self.split('@')[0] in ['windows2019','windows2022','windows2025'] ? self.split('@')[1] == 'latest' : true": lambda s: (
        s.split("@")[1] == "latest" if s.split("@")[0] in _WINDOWS_FAMILIES else True
    ),
    "self.filter(x, has(x.rootVolume)?x.rootVolume==true:false).size() <= 1": lambda s: (
        sum(1 for x in s if _has(x, "rootVolume") and x["rootVolume"] is True) <= 1
    ),
    "has(self.snapshotID) || has(self.volumeSize)": lambda s: (
        _has(s, "snapshotID") or _has(s, "volumeSize")
    ),
    "!has(self.volumeInitializationRate) || (has(self.snapshotID) && self.snapshotID != '')": lambda s: (
        not _has(s, "volumeInitializationRate") or (_has(s, "snapshotID") and s["snapshotID"] != "")
    ),
    "self.all(x, has(x.tags) || has(x.id) || has(x.instanceMatchCriteria))": lambda s: all(
        _has(x, "tags") or _has(x, "id") or _has(x, "instanceMatchCriteria") for x in s
    ),
    "!self.all(x, has(x.id) && (has(x.tags) || has(x.ownerID) || has(x.instanceMatchCriteria)))": lambda s: (
        not all(
            _has(x, "id")
            and (_has(x, "tags") or _has(x, "ownerID") or _has(x, "instanceMatchCriteria"))
            for x in s
        )
    ),
    "has(self.tcpEstablishedTimeout) || has(self.udpStreamTimeout) || has(self.udpTimeout)": lambda s: (
        any(_has(s, f) for f in ("tcpEstablishedTimeout", "udpStreamTimeout", "udpTimeout"))
    ),
    "has(self.imageGCHighThresholdPercent) && has(self.imageGCLowThresholdPercent) ? "
    "self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent : true": lambda s: (
        s["imageGCHighThresholdPercent"] > s["imageGCLowThresholdPercent"]
        if _has(s, "imageGCHighThresholdPercent") and _has(s, "imageGCLowThresholdPercent")
        else True
    ),
    "has(self.evictionSoft) ? self.evictionSoft.all(e, (e in self.evictionSoftGracePeriod)):true": lambda s: (
        all(e in s["evictionSoftGracePeriod"] for e in s["evictionSoft"])
        if _has(s, "evictionSoft")
        else True
    ),
    "has(self.evictionSoftGracePeriod) ? self.evictionSoftGracePeriod.all(e, (e in self.evictionSoft)):true": lambda s: (
        all(e in s["evictionSoft"] for e in s["evictionSoftGracePeriod"])
        if _has(s, "evictionSoftGracePeriod")
        else True
    ),
    "self.all(x, x in ['memory.available','nodefs.available','nodefs.inodesFree',"
    "'imagefs.available','imagefs.inodesFree','pid.available'])": lambda s: all(
        k in _EVICTION_SIGNALS for k in s
    ),
    "self.all(x, x=='cpu' || x=='memory' || x=='ephemeral-storage' || x=='pid')": lambda s: all(
        k in _RESERVED_RESOURCES for k in s
    ),
    "self.all(x, !self[x].startsWith('-'))": lambda s: all(not s[k].startswith("-") for k in s),
    "self.size() == 0 || self.exists(x, x.deviceIndex == 0 && x.networkCardIndex == 0 && "
    "x.interfaceType == 'interface')": lambda s: (
        len(s) == 0
        or any(
            x["deviceIndex"] == 0
            and x["networkCardIndex"] == 0
            and x["interfaceType"] == "interface"
            for x in s
        )
    ),
    "self.all(x, self.filter(y, x.networkCardIndex == y.networkCardIndex && x.deviceIndex == "
    "y.deviceIndex).size() == 1 && (x.interfaceType != 'efa-only' || self.filter(y, "
    "x.networkCardIndex == y.networkCardIndex && y.interfaceType == 'efa-only').size() == 1))": _network_interfaces_unique,
    "has(self.name) || has(self.id)": lambda s: _has(s, "name") or _has(s, "id"),
    "!(has(self.name) && has(self.id))": lambda s: not (_has(s, "name") and _has(s, "id")),
    "self.size() != 0": lambda s: len(s) != 0,
    "self.all(x, has(x.tags) || has(x.id) || has(x.name))": lambda s: all(
        _has(x, "tags") or _has(x, "id") or _has(x, "name") for x in s
    ),
    "!self.all(x, has(x.id) && (has(x.tags) || has(x.name)))": lambda s: (
        not all(_has(x, "id") and (_has(x, "tags") or _has(x, "name")) for x in s)
    ),
    "!self.all(x, has(x.name) && (has(x.tags) || has(x.id)))": lambda s: (
        not all(_has(x, "name") and (_has(x, "tags") or _has(x, "id")) for x in s)
    ),
    "self.all(x, has(x.tags) || has(x.id))": lambda s: all(
        _has(x, "tags") or _has(x, "id") for x in s
    ),
    "!self.all(x, has(x.id) && has(x.tags))": lambda s: (
        not all(_has(x, "id") and _has(x, "tags") for x in s)
    ),
    "self.all(k, k != '')": lambda s: all(k != "" for k in s),
    "self.all(k, k !='eks:eks-cluster-name')": lambda s: all(
        k != "eks:eks-cluster-name" for k in s
    ),
    "self.all(k, !k.startsWith('kubernetes.io/cluster') )": lambda s: all(
        not k.startswith("kubernetes.io/cluster") for k in s
    ),
    "self.all(k, k != 'karpenter.sh/nodepool')": lambda s: all(
        k != "karpenter.sh/nodepool" for k in s
    ),
    "self.all(k, k !='karpenter.sh/nodeclaim')": lambda s: all(
        k != "karpenter.sh/nodeclaim" for k in s
    ),
    "self.all(k, k !='karpenter.k8s.aws/ec2nodeclass')": lambda s: all(
        k != "karpenter.k8s.aws/ec2nodeclass" for k in s
    ),
    # ---- RayJob / RayCluster (ray.io/v1)
    "!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))": lambda s: (
        not ((_has(s, "onSuccess") or _has(s, "onFailure")) and _has(s, "deletionRules"))
    ),
    "((has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules))": lambda s: (
        (_has(s, "onSuccess") and _has(s, "onFailure")) or _has(s, "deletionRules")
    ),
    "!(has(self.jobStatus) && has(self.jobDeploymentStatus))": lambda s: (
        not (_has(s, "jobStatus") and _has(s, "jobDeploymentStatus"))
    ),
    "has(self.jobStatus) || has(self.jobDeploymentStatus)": lambda s: (
        _has(s, "jobStatus") or _has(s, "jobDeploymentStatus")
    ),
    "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']": lambda s: (
        s in ("ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue")
    ),
}
for _family, _ami_family in _ALIAS_FAMILIES.items():
    _CEL_SOURCE[
        f"!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && "
        f"x.alias.find('^[^@]+') == '{_family}') ? (self.amiFamily == 'Custom' || "
        f"self.amiFamily == '{_ami_family}') : true)"
    ] = functools.partial(_alias_family_matches, _family, _ami_family)


def _normalise_rule(rule: str) -> str:
    return " ".join(rule.split())


_CEL_CHECKS = {_normalise_rule(rule): check for rule, check in _CEL_SOURCE.items()}

# Restricted label domain with an allow-list, on a map of labels or on one requirement key:
#   self.all(x, x in ["a", ...] || !x.find("^([^/]+)").endsWith("domain"))
#   self in ["a", ...] || !self.find("^([^/]+)").endsWith("domain")
_DOMAIN_RULE = re.compile(
    r"(?:self\.all\(x, x|self) in \[(?P<allowed>[^\]]*)\] \|\| "
    r'!(?:x|self)\.find\("\^\(\[\^/\]\+\)"\)\.endsWith\("(?P<domain>[^"]+)"\)\)?'
)


def _domain_check(allowed: frozenset, domain: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return all(k in allowed or not _domain_of(k).endswith(domain) for k in _keys(value))

    return check


@functools.cache
def _cel_check_for(rule: str) -> Callable[[Any], bool] | None:
    norm = _normalise_rule(rule)
    if norm in _CEL_CHECKS:
        return _CEL_CHECKS[norm]
    m = _DOMAIN_RULE.fullmatch(norm)
    if m:
        is_map_rule = norm.startswith("self.all(")
        if is_map_rule != norm.endswith('"))'):
            return None
        allowed = frozenset(re.findall(r'"([^"]*)"', m["allowed"]))
        return _domain_check(allowed, m["domain"])
    return None


def _is_transition_rule(rule: str) -> bool:
    return re.search(r"\boldSelf\b", rule) is not None


def _extension_errors(schema: Any, data: Any, path: list, out: list[_Err], lenient: bool) -> None:
    """CEL re-checks and list-type uniqueness, walking data and schema together."""
    if not isinstance(schema, dict) or data is None:
        return
    for spec in schema.get("x-kubernetes-validations") or ():
        rule = spec.get("rule") or ""
        check = None if _is_transition_rule(rule) else _cel_check_for(rule)
        if check is None:
            continue
        try:
            ok = bool(check(data))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            if lenient:  # schema errors already explain the malformed value
                continue
            ok = False
        if not ok:
            message = spec.get("message") or f"failed rule: {rule}"
            out.append((path, f"{message} (x-kubernetes-validations rule)"))
    if isinstance(data, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type in ("set", "map"):
            map_keys = schema.get("x-kubernetes-list-map-keys") or []
            seen: dict[str, int] = {}
            for i, item in enumerate(data):
                if list_type == "map" and isinstance(item, dict):
                    ident = json.dumps([item.get(k) for k in map_keys])
                    label = ", ".join(f"{k}={item.get(k)!r}" for k in map_keys)
                else:
                    ident = json.dumps(item, sort_keys=True, default=str)
                    label = _short(repr(item), 80)
                if ident in seen:
                    out.append((path + [i], f"duplicate entry ({label}); same as [{seen[ident]}]"))
                else:
                    seen[ident] = i
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(data):
                _extension_errors(items, item, path + [i], out, lenient)
    elif isinstance(data, dict):
        for key, value in data.items():
            sub = _sub_schema(schema, key)
            if sub is not None:
                _extension_errors(sub, value, path + [key], out, lenient)


def _iter_rules(schema: Any, path: str):
    if not isinstance(schema, dict):
        return
    for spec in schema.get("x-kubernetes-validations") or ():
        yield path or "<root>", spec.get("rule") or ""
    for key, sub in (schema.get("properties") or {}).items():
        yield from _iter_rules(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("items"), dict):
        yield from _iter_rules(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _iter_rules(schema["additionalProperties"], f"{path}[*]")


def cel_rule_coverage(api_version: str, kind: str) -> dict[str, list[str]]:
    """CEL rules of the CRD for apiVersion/kind, as ``"<schema path>: <rule>"`` strings, split into
    ``checked`` (re-implemented here), ``transition`` (use oldSelf: update-only, not applicable to
    a create) and ``unchecked``."""
    group, _, version = api_version.rpartition("/")
    cr = _custom_schema(str(crd_dir()), group, version, kind)
    if cr is None and _pinned(group, kind):
        raise SchemaUnavailable(
            f"{kind}: its pinned CRD is not in {crd_dir()}; {crds.HOW_TO_PROVIDE}"
        )
    if not isinstance(cr, _CrSchema):
        raise LookupError(cr or f"no CRD for {api_version} {kind} in {crd_dir()}")
    result: dict[str, list[str]] = {"checked": [], "transition": [], "unchecked": []}
    for path, rule in _iter_rules(cr.schema, ""):
        bucket = (
            "transition"
            if _is_transition_rule(rule)
            else "checked"
            if _cel_check_for(rule) is not None
            else "unchecked"
        )
        result[bucket].append(f"{path}: {_normalise_rule(rule)}")
    return result


# --------------------------------------------------------------------------- entry points

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


def _format(ident: str, errors: list[_Err]) -> list[str]:
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
    errors: list[_Err] = []
    if not isinstance(api_version, str) or not api_version:
        errors.append((["apiVersion"], "required field is missing or not a string"))
    if not isinstance(kind, str) or not kind:
        errors.append((["kind"], "required field is missing or not a string"))
    if errors:
        return _format(ident, errors)

    group, _, version = api_version.rpartition("/")
    schema_version = resolve_kubernetes_version(kubernetes_version)
    builtin = _builtin_validator(schema_version, group, version, kind)
    if builtin is not None:
        errors += _metadata_errors(obj.get("metadata"), kind, builtin=True)
        errors += _schema_errors(builtin, _without_nulls(obj))
        return _format(ident, errors)

    directory = crd_dir() if group else None
    cr = _custom_schema(str(directory), group, version, kind) if directory is not None else None
    if cr is None and _pinned(group, kind):
        # A kind the stack pins a CRD for, whose file this machine lacks: unavailable, not unknown.
        raise SchemaUnavailable(
            f"{kind}: its pinned CRD is not in {directory}; {crds.HOW_TO_PROVIDE}"
        )
    if cr is None:
        where = (
            f"no CRD for group {group!r} in {directory}" if group else "core group has no such kind"
        )
        errors.append(
            (
                ["kind"],
                (
                    f"no schema for apiVersion {api_version!r} kind {kind!r}: not a built-in kind of "
                    f"Kubernetes {kubernetes_version} (kubernetes-validate schemas v{schema_version}) "
                    f"and {where}"
                ),
            )
        )
        return _format(ident, errors)
    if isinstance(cr, str):
        return _format(ident, [(["apiVersion"], cr)])

    errors += _metadata_errors(obj.get("metadata"), kind, builtin=False)
    instance = copy.deepcopy(dict(obj))
    _prune_and_default(cr.schema, instance)
    schema_errors = _schema_errors(cr.validator, instance)
    errors += schema_errors
    _extension_errors(cr.schema, instance, [], errors, lenient=bool(schema_errors))
    return _format(ident, errors)


def validate_all(objs: Iterable[dict], kubernetes_version: str = "1.34") -> dict[str, list[str]]:
    """``{"<Kind>/<name>": errors}`` for every invalid object (valid ones are omitted)."""
    result: dict[str, list[str]] = {}
    for obj in objs:
        errors = validate_object(obj, kubernetes_version)
        if errors:
            result.setdefault(_ident(obj), []).extend(errors)
    return result
