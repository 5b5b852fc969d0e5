"""Weakening one input of a planned resource, for the hardening table (policies/hardening/):
where a path points in a resource's inputs, and a copy of the inputs with the value there
removed or replaced. Pure, so the harness in the tests and a maintainer's REPL do the same.

A path is dotted keys, with:
- `*`: every key of a mapping or item of a list; `[*]` is the same for a list;
- `["a.b/c"]`: a key holding dots or slashes (Kubernetes labels);
- `@json`: the value is a JSON document in a string (IAM and resource policies);
- `<pod>`: every pod spec in a workload (base.pod_templates' structural rule);
- `<container>`: every container, init and ephemeral included, of every pod spec.
The empty path is the resource itself: removing it drops the resource from the plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .rules.base import CONTAINER_KEYS


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REMOVED = _Marker("REMOVED")  # a weakening's result that deletes the key or list item
UNCHANGED = _Marker("UNCHANGED")  # a weakening that does not apply to this value


@dataclass(frozen=True)
class Weaken:
    """How a value is weakened: `apply(old)` gives the new value, REMOVED, or UNCHANGED."""

    label: str
    apply: Callable[[Any], Any]

    def __repr__(self) -> str:
        return self.label


REMOVE = Weaken("remove", lambda _v: REMOVED)


def set_to(value: Any) -> Weaken:
    return Weaken(f"set {json.dumps(value)}", lambda _v: value)


def remove_items(label: str, matches: Callable[[Any], bool]) -> Weaken:
    """Drop the items of a list that `matches` picks (a statement, a CIDR's `except`)."""

    def apply(v: Any) -> Any:
        if not isinstance(v, list):
            return UNCHANGED
        kept = [x for x in v if not matches(x)]
        return kept if len(kept) != len(v) else UNCHANGED

    return Weaken(label, apply)


_TOKEN = re.compile(r'\["([^"]*)"\]|\[(\*)\]|([^.\[\]]+)')


def parse(path: str) -> tuple[str, ...]:
    return tuple(a or b or c for a, b, c in _TOKEN.findall(path))


Key = str | int


def _pod_spec_paths(obj: Any, at: tuple[Key, ...] = ()) -> Iterator[tuple[Key, ...]]:
    # The same structural rule as base.pod_templates, yielding key paths instead.
    if isinstance(obj, Mapping):
        if isinstance(obj.get("containers"), list):
            yield at
            return
        spec = obj.get("spec")
        if isinstance(spec, Mapping) and isinstance(spec.get("containers"), list):
            yield (*at, "spec")
            return
        for k, v in obj.items():
            yield from _pod_spec_paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _pod_spec_paths(v, (*at, i))


def _container_paths(obj: Any) -> Iterator[tuple[Key, ...]]:
    for spec_at in _pod_spec_paths(obj):
        spec = _at(obj, spec_at)
        for key in CONTAINER_KEYS:
            for i, c in enumerate(spec.get(key) or []):
                if isinstance(c, Mapping):
                    yield (*spec_at, key, i)


def _at(obj: Any, keys: tuple[Key, ...]) -> Any:
    for k in keys:
        obj = obj[k]
    return obj


def _replaced(obj: Any, key: Key, new: Any) -> Any:
    if isinstance(obj, list):
        out = list(obj)
        if new is REMOVED:
            del out[key]  # type: ignore[arg-type]
        else:
            out[key] = new  # type: ignore[index]
        return out
    out = dict(obj)
    if new is REMOVED:
        del out[key]
    else:
        out[key] = new
    return out


def _children(obj: Any) -> Iterator[Key]:
    if isinstance(obj, Mapping):
        yield from obj.keys()
    elif isinstance(obj, list):
        yield from range(len(obj))


def mutations(
    obj: Any, segments: tuple[Any, ...], weaken: Weaken, where: str = ""
) -> Iterator[tuple[str, Any]]:
    """(concrete location, weakened copy of `obj`) for every place `segments` reaches in `obj`
    where the weakening changes something; `obj` itself is never modified."""
    if not segments:
        new = weaken.apply(obj)
        if new is not UNCHANGED and new != obj:
            yield where, new
        return
    seg, rest = segments[0], segments[1:]
    if seg == "@json":
        if isinstance(obj, str):
            try:
                doc = json.loads(obj)
            except ValueError:
                return
            for w, new in mutations(doc, rest, weaken, where):
                yield w, new if new is REMOVED else json.dumps(new)
        return
    if seg in ("<pod>", "<container>"):
        found = _pod_spec_paths(obj) if seg == "<pod>" else _container_paths(obj)
        for keys in list(found):
            yield from mutations(obj, (*keys, *rest), weaken, where)
        return
    keys = list(_children(obj)) if seg == "*" else [seg]
    for k in keys:
        if isinstance(obj, Mapping) and k in obj or isinstance(obj, list) and isinstance(k, int):
            label = f"{where}[{k}]" if isinstance(k, int) else (f"{where}.{k}" if where else k)
            for w, new in mutations(obj[k], rest, weaken, label):
                yield w, _replaced(obj, k, new)
