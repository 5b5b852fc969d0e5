"""The CRDs' own CEL rules (``x-kubernetes-validations``), evaluated with a CEL library.

Library: cel-python (``celpy``), pure Python. The alternative, common-expression-language (Rust
bindings), 0.10.0 ships manylinux wheels (x86_64 and aarch64) for CPython 3.11-3.13 only, none for
3.10, which this project supports; its sdist would need a Rust toolchain to install there.

Evaluation follows the API server (kubernetes
staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go): a rule runs
at the schema node that declares it, once per value there (each item of a list, each value of a
map), with ``self`` bound to that value; null values are not validated; a rule that does not
evaluate to ``true`` fails with its ``messageExpression`` (when it yields a non-empty one-line
string) else its ``message`` else ``failed rule: <rule>``; an evaluation error fails the rule too
(unless the object already has schema errors, which explain the malformed value better).
Transition rules (those that read ``oldSelf``) run only on update, so never here: a rendered
object is always a create. ``optionalOldSelf`` rules are skipped the same way.

Functions: CEL's standard ones come with celpy. Kubernetes' base environment
(staging/src/k8s.io/apiserver/pkg/cel/environment/base.go: regex, lists, URLs, quantity,
strings ext v2, sets, IP/CIDR, format, semver, ...) adds libraries; of those we register what
the pinned CRDs' rules call, with their siblings, following upstream semantics:

* regex library ``find`` / ``findAll`` (staging/src/k8s.io/apiserver/pkg/cel/library/regex.go):
  Go's regexp is RE2, so google-re2 (which celpy itself uses for ``matches``);
* strings extension v2 ``split`` / ``join`` / ``lowerAscii`` / ``upperAscii`` (cel-go v0.26.0
  ext/strings.go).

The kubernetes files were read at the repository's main line (regex.go 008b3652, base.go
002315b9), not at a release tag; the functions used here are in every release EKS supports.

A rule that does not parse, or calls any other function (``quantity()``, ``url()``, ``ip()``,
``format()``, ...), is *unchecked*: ``coverage`` lists it and validation skips it. Compiled
programs are cached per rule text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import celpy
import re2
from celpy import celtypes
from celpy.celparser import CELParseError

from .errors import Err, short

# ---------------------------------------------------------------- Kubernetes library functions


def _string(value: Any) -> str:
    if not isinstance(value, str):  # no such overload, as in cel-go
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _regex(pattern: Any):
    try:
        return re2.compile(_string(pattern))
    except re2.error as err:
        raise ValueError(f"Illegal regex: {err}") from err


def _find(text: Any, pattern: Any) -> celtypes.StringType:
    """``<string>.find(<regex>)``: the leftmost match, or '' (Go regexp.FindString)."""
    match = _regex(pattern).search(_string(text))
    return celtypes.StringType(match.group(0) if match else "")


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> celtypes.ListType:
    """``<string>.findAll(<regex>[, <int>])``: successive non-overlapping matches, at most
    ``limit`` when >= 0 (Go regexp.FindAllString: an empty match abutting the previous match is
    not reported)."""
    text, regex = _string(text), _regex(pattern)
    found: list[str] = []
    pos, prev_end = 0, -1
    while pos <= len(text) and (limit < 0 or len(found) < limit):
        match = regex.search(text, pos)
        if match is None:
            break
        start, end = match.span()
        if end == start == prev_end:
            pos = start + 1
            continue
        found.append(match.group(0))
        prev_end = end
        pos = end if end > start else end + 1
    return celtypes.ListType([celtypes.StringType(s) for s in found])


def _split(text: Any, sep: Any, limit: Any = -1) -> celtypes.ListType:
    """``<string>.split(<string>[, <int>])`` (Go strings.SplitN): limit 0 gives [], a negative
    limit splits everywhere, an empty separator splits into characters."""
    text, sep = _string(text), _string(sep)
    if limit == 0:
        parts: list[str] = []
    elif sep == "":
        chars = list(text)
        parts = (
            chars if limit < 0 or limit >= len(chars) else [*chars[: limit - 1], text[limit - 1 :]]
        )
    else:
        parts = text.split(sep) if limit < 0 else text.split(sep, limit - 1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    """``<list<string>>.join([<string>])``."""
    return celtypes.StringType(_string(sep).join(_string(i) for i in items))


def _ascii_case(upper: bool):
    def convert(text: Any) -> celtypes.StringType:
        # Only ASCII letters change: 'TacoCÆt'.lowerAscii() == 'tacocÆt'.
        return celtypes.StringType(
            "".join(
                (c.upper() if upper else c.lower()) if c.isascii() else c for c in _string(text)
            )
        )

    return convert


K8S_FUNCTIONS: dict[str, Any] = {
    "find": _find,
    "findAll": _find_all,
    "split": _split,
    "join": _join,
    "lowerAscii": _ascii_case(upper=False),
    "upperAscii": _ascii_case(upper=True),
}
_MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})
_KNOWN = _MACROS | frozenset(celpy.base_functions) | frozenset(K8S_FUNCTIONS)

# ---------------------------------------------------------------- compiling


@functools.cache
def _env() -> celpy.Environment:
    return celpy.Environment()


def _called_names(tree: Any) -> Iterator[str]:
    """Names of the functions and macros a parsed expression calls."""
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg":
            yield str(node.children[1])
        elif node.data in ("ident_arg", "dot_ident_arg"):
            yield str(node.children[0])


def _identifiers(tree: Any) -> set[str]:
    return {str(n.children[0]) for n in tree.iter_subtrees() if n.data == "ident"}


@functools.cache
def compile_rule(text: str) -> Any:
    """The program for a rule or messageExpression, or a string saying why it cannot be run."""
    try:
        tree = _env().compile(text)
    except CELParseError as err:
        return f"does not parse: {short(str(err), 120)}"
    unknown = sorted(set(_called_names(tree)) - _KNOWN)
    if unknown:
        return f"calls functions not registered here: {', '.join(unknown)}"
    return _env().program(tree, functions=K8S_FUNCTIONS)


@functools.cache
def is_transition_rule(text: str) -> bool:
    try:
        return "oldSelf" in _identifiers(_env().compile(text))
    except CELParseError:
        return re.search(r"\boldSelf\b", text) is not None


def _skipped(spec: dict) -> bool:
    return spec.get("optionalOldSelf") is True or is_transition_rule(spec.get("rule") or "")


# ---------------------------------------------------------------- evaluating


class _EvalError(Exception):
    pass


def _evaluate(program: Any, activation: dict) -> Any:
    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as err:
        raise _EvalError(err.args[0] if err.args else str(err)) from err
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        raise _EvalError(str(err)) from err
    if isinstance(result, celpy.CELEvalError):
        raise _EvalError(result.args[0] if result.args else str(result))
    return result


def _message(spec: dict, activation: dict) -> str:
    """messageExpression if it yields a usable string, else message, else the default."""
    expression = spec.get("messageExpression")
    if expression:
        program = compile_rule(expression)
        if not isinstance(program, str):
            try:
                text = _evaluate(program, activation)
            except _EvalError:
                text = None
            if isinstance(text, str) and text.strip() and "\n" not in text.strip():
                return text.strip()
    return (spec.get("message") or "").strip() or f"failed rule: {(spec.get('rule') or '').strip()}"


def node_errors(schema: dict, value: Any, path: list, lenient: bool) -> list[Err]:
    """Failed CEL rules of one schema node, ``self`` bound to its (non-null) value."""
    out: list[Err] = []
    activation: dict | None = None
    for spec in schema.get("x-kubernetes-validations") or ():
        rule = spec.get("rule") or ""
        if not rule.strip() or _skipped(spec):
            continue
        program = compile_rule(rule)
        if isinstance(program, str):
            continue  # unchecked: cel_rule_coverage reports it
        if activation is None:
            activation = {"self": celpy.json_to_cel(value)}
        try:
            result = _evaluate(program, activation)
        except _EvalError as err:
            if lenient:  # schema errors already explain the malformed value
                continue
            reason = (spec.get("message") or rule).strip()
            out.append((path, f"{reason} (x-kubernetes-validations rule: {short(str(err), 120)})"))
            continue
        if not (isinstance(result, celtypes.BoolType) and bool(result)):
            out.append((path, f"{_message(spec, activation)} (x-kubernetes-validations rule)"))
    return out


# ---------------------------------------------------------------- coverage


def _iter_rules(schema: Any, path: str) -> Iterator[tuple[str, dict]]:
    if not isinstance(schema, dict):
        return
    for spec in schema.get("x-kubernetes-validations") or ():
        yield path or "<root>", spec
    for key, sub in (schema.get("properties") or {}).items():
        yield from _iter_rules(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("items"), dict):
        yield from _iter_rules(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _iter_rules(schema["additionalProperties"], f"{path}[*]")


def coverage(schema: dict) -> dict[str, list[str]]:
    """A CRD schema's rules as ``"<schema path>: <rule>"``, split into ``checked`` (evaluated
    here), ``transition`` (update-only, never applicable to a create) and ``unchecked`` (the
    rule or its messageExpression does not compile here: see ``compile_rule``)."""
    result: dict[str, list[str]] = {"checked": [], "transition": [], "unchecked": []}
    for path, spec in _iter_rules(schema, ""):
        rule = spec.get("rule") or ""
        runnable = [compile_rule(t) for t in (rule, spec.get("messageExpression")) if t]
        bucket = (
            "transition"
            if _skipped(spec)
            else "unchecked"
            if any(isinstance(p, str) for p in runnable)
            else "checked"
        )
        result[bucket].append(f"{path}: {' '.join(rule.split())}")
    return result
