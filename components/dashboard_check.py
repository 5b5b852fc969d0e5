"""Every query of a dashboard body read back and checked against the metric catalog: each
metric it names must be published in that namespace under exactly that dimension set
(metric_catalog.py), so a typo is an error offline rather than an empty graph on the console.

What it reads, per metric widget row (CloudWatch API Reference, "Dashboard Body Structure and
Syntax", the metrics array):
- [namespace, name, dimension, value, ..., {options}]: a metric named in full;
- [{"expression": "SELECT ..."}]: a Metrics Insights query, in the subset dashboard_body.py
  writes: SELECT fn(metric) FROM SCHEMA(namespace, dimensions...) [WHERE d = 'v' [AND ...]]
  [GROUP BY d, ...]. SCHEMA names the exact dimension set (Metrics Insights query reference),
  which is what makes the set checkable; WHERE and GROUP BY may use only its dimensions;
- [{"expression": "AVG([m0, m1])"}]: metric math over rows of the same widget, by id.
Anything else is reported as a form this check does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .metric_catalog import lookup

_INSIGHTS = re.compile(
    r"^SELECT (?P<fn>AVG|COUNT|MAX|MIN|SUM)\((?P<metric>\w+)\) "
    r"FROM SCHEMA\((?P<ns>\"[^\"]+\"|\w+)(?P<dims>(?:, \w+)*)\)"
    r"(?: WHERE (?P<where>.+?))?"
    r"(?: GROUP BY (?P<group>\w+(?:, \w+)*))?$"
)
_CONDITION = re.compile(r"^(?P<key>\w+) (?:=|!=) '[^']*'$")
_MATH = re.compile(r"^(?:AVG|MAX|MIN|SUM)\(\[(?P<ids>[a-z]\w*(?:, [a-z]\w*)*)\]\)$")
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


def _metric_problem(namespace: str, name: str, dims: set[str]) -> str | None:
    found = lookup(namespace, name)
    if found is None:
        return f"{namespace} {name}: no such metric in the catalog"
    if not found.has_dimensions(dims):
        sets = " or ".join("{" + ", ".join(sorted(s)) + "}" for s in found.dimension_sets)
        return f"{namespace} {name} {{{', '.join(sorted(dims))}}}: published only with {sets}"
    return None


def insights_problems(query: str) -> list[str]:
    m = _INSIGHTS.match(query)
    if m is None:
        return [f"not a Metrics Insights query of the checked form: {query}"]
    namespace = m["ns"].strip('"')
    schema = {d.strip() for d in m["dims"].split(",") if d.strip()}
    out = []
    problem = _metric_problem(namespace, m["metric"], schema)
    if problem:
        out.append(problem)
    for condition in (m["where"] or "").split(" AND ") if m["where"] else []:
        c = _CONDITION.match(condition)
        if c is None:
            out.append(f"WHERE {condition!r}: only dimension = 'value' (or !=) joined by AND")
        elif c["key"] not in schema:
            out.append(f"WHERE {c['key']}: not a dimension of SCHEMA({', '.join(sorted(schema))})")
    for key in (m["group"] or "").split(", ") if m["group"] else []:
        if key not in schema:
            out.append(f"GROUP BY {key}: not a dimension of SCHEMA({', '.join(sorted(schema))})")
    return out


def widget_problems(widget: Mapping[str, Any]) -> list[str]:
    if widget.get("type") != "metric":
        return []
    props = widget["properties"]
    title = props.get("title", "?")
    ids: set[str] = set()
    math: list[tuple[str, str]] = []
    out = []
    for row in props.get("metrics") or []:
        options = row[-1] if row and isinstance(row[-1], Mapping) else {}
        if "id" in options:
            if not _ID.match(options["id"]) or options["id"] in ids:
                out.append(f"id {options['id']!r}: not unique or not a lowercase-led name")
            ids.add(options["id"])
        if "expression" in options:
            expression = options["expression"]
            if expression.startswith("SELECT "):
                out += insights_problems(expression)
            elif _MATH.match(expression):
                math.append((expression, _MATH.match(expression)["ids"]))
            else:
                out.append(f"expression of an unchecked form: {expression}")
            continue
        names = [x for x in row if not isinstance(x, Mapping)]
        if len(names) < 2 or len(names) % 2:
            out.append(f"metric row {row!r}: expected namespace, name, then dimension pairs")
            continue
        problem = _metric_problem(names[0], names[1], set(names[2::2]))
        if problem:
            out.append(problem)
    for expression, refs in math:
        missing = [i for i in refs.split(", ") if i not in ids]
        if missing:
            out.append(f"{expression}: no row with id {', '.join(missing)}")
    return [f"{title}: {p}" for p in out]


def problems(body: Mapping[str, Any]) -> list[str]:
    """What in the dashboard body names a metric, namespace or dimension set nobody
    publishes; [] when every query checks out."""
    return [p for w in body.get("widgets") or [] for p in widget_problems(w)]
