"""The stack's CloudWatch dashboard: a ComponentResource around one `aws.cloudwatch.Dashboard`
whose body dashboard_body.py builds from the stack config, and two readings of that body for
people: `describe` (its panels, one by one, with what each plots) and `svg` (a wireframe picture
of the grid, docs/dashboard.svg).

    python -m components.dashboard --describe [--stack dev]
    python -m components.dashboard --svg docs/dashboard.svg [--stack dev]

read Pulumi.<stack>.yaml in the current folder, like `trainstack cost`.

The dashboard is billed monthly past CloudWatch's free tier (three dashboards of up to 50
metrics each): `trainstack cost` prices it in full (prices.yaml cloudwatchDashboardMonth).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from .config import PROJECT
from .dashboard_body import Spec, body


@dataclass
class DashboardArgs:
    spec: Spec


def dashboard_name(cluster: str) -> str:
    """One dashboard per cluster; EKS cluster names (letters, digits, - and _) are valid
    dashboard names as they are."""
    return cluster


class Dashboard(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{PROJECT}:dashboard:Dashboard", name, None, opts)
        dashboard = aws.cloudwatch.Dashboard(
            name,
            dashboard_name=dashboard_name(args.spec.cluster),
            dashboard_body=json.dumps(body(args.spec), sort_keys=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"dashboardName": self.dashboard_name})


# -------------------------------------------------------------------------- for people


def _what(row: list) -> str:
    """One metrics-array row as a line: a query, or namespace/name {dims}."""
    if len(row) == 1 and isinstance(row[0], dict):
        label = row[0].get("label")
        return f"{row[0]['expression']}" + (f"  ({label})" if label else "")
    options = row[-1] if isinstance(row[-1], dict) else {}
    names = [x for x in row if not isinstance(x, dict)]
    ns, name, pairs = names[0], names[1], names[2:]
    dims = ", ".join(f"{pairs[i]}={pairs[i + 1]}" for i in range(0, len(pairs), 2))
    hidden = "  (hidden, used by the math below)" if options.get("visible") is False else ""
    return f"{ns} {name} {{{dims}}}{hidden}"


def panels(dash: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(title, what it plots) per widget, in reading order."""
    out = []
    for w in sorted(dash["widgets"], key=lambda w: (w["y"], w["x"])):
        props = w["properties"]
        if w["type"] == "text":
            out.append(("(text)", [props["markdown"].splitlines()[0].lstrip("# ")]))
            continue
        what = [_what(r) for r in props["metrics"]]
        out.append(
            (props["title"], [f"{props['view']}, {props['stat']}/{props['period']}s", *what])
        )
    return out


def describe(dash: dict[str, Any]) -> str:
    lines = []
    for title, what in panels(dash):
        lines.append(title)
        lines += [f"    {x}" for x in what]
    return "\n".join(lines)


COLUMN_PX, ROW_PX = 40, 36


def svg(dash: dict[str, Any]) -> str:
    """A wireframe of the dashboard: each widget a box at its grid place, with its title and
    its first plotted series or query."""
    widgets = dash["widgets"]
    height = max(w["y"] + w["height"] for w in widgets) * ROW_PX
    width = 24 * COLUMN_PX
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#f4f4f4"/>',
    ]
    by_place = {(w["y"], w["x"]): w for w in widgets}
    for (title, what), key in zip(panels(dash), sorted(by_place)):
        w = by_place[key]
        x, y = w["x"] * COLUMN_PX + 4, w["y"] * ROW_PX + 4
        wd, ht = w["width"] * COLUMN_PX - 8, w["height"] * ROW_PX - 8
        parts.append(
            f'<rect x="{x}" y="{y}" width="{wd}" height="{ht}" fill="white" stroke="#888"/>'
        )
        # The series a reader sees: metric math's inputs are hidden on the console too.
        visible = [x for x in what[1:] if "(hidden" not in x]
        shown = what[:1] if w["type"] == "text" else [title, what[0], *visible[:2]]
        for i, line in enumerate(shown):
            cut = wd // 7
            text = line if len(line) <= cut else line[: cut - 1] + "…"
            weight = "bold" if i == 0 else "normal"
            parts.append(
                f'<text x="{x + 8}" y="{y + 20 + 16 * i}" font-size="{13 if i == 0 else 11}" '
                f'font-weight="{weight}">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _spec(stack: str, folder: Path) -> Spec:
    import yaml

    from .config import parse
    from .dashboard_body import spec_of

    raw = yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}
    return spec_of(parse(data, raw.get("aws:region", "us-west-2")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.dashboard")
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--describe", action="store_true", help="print the panels")
    parser.add_argument("--svg", type=Path, metavar="FILE", help="write the wireframe picture")
    args = parser.parse_args(argv)
    dash = body(_spec(args.stack, Path.cwd()))
    if args.svg:
        args.svg.write_text(svg(dash), encoding="utf-8")
    if args.describe or not args.svg:
        print(describe(dash))
    return 0


if __name__ == "__main__":
    sys.exit(main())
