"""ObjectMeta rules. ``metadata`` is only ``type: object`` in CRDs, so it is checked here for every
kind: ``name`` required (DNS-1123 subdomain; DNS-1123 label for Namespace, DNS-1035 label for
Service, path-segment name for RBAC kinds), ``namespace`` a DNS-1123 label, labels and annotations
string->string with valid qualified-name keys and valid label values, annotations <= 256 KiB; for
custom resources also unknown ObjectMeta fields. The name and label syntax is the one definition
the config checks share (components/k8s_names.py)."""

from __future__ import annotations

from typing import Any

from components import k8s_names

from .errors import Err, suggestion


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


def metadata_errors(meta: Any, kind: str, builtin: bool) -> list[Err]:
    out: list[Err] = []
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
                        + suggestion(key, {"properties": dict.fromkeys(_OBJECT_META_FIELDS)}),
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
            check = k8s_names.dns1123_label
        elif builtin and kind == "Service":
            check = k8s_names.dns1035_label
        elif builtin and kind in _RBAC_KINDS:
            check = _path_segment
        else:
            check = k8s_names.dns1123_subdomain
        problem = "must not be empty" if name == "" else check(name)
        if problem:
            out.append((["metadata", "name"], f"invalid name {name!r}: {problem}"))
    namespace = meta.get("namespace")
    if isinstance(namespace, str):
        problem = k8s_names.dns1123_label(namespace)
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
            problem = k8s_names.qualified_name(key if field == "labels" else key.lower())
            if problem:
                out.append((path, f"invalid key {key!r}: {problem}"))
            if not isinstance(value, str):
                if not builtin:
                    out.append((path, f"value must be a string, got {type(value).__name__}"))
            elif field == "labels":
                problem = k8s_names.label_value(value)
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
