"""The cost report as text: idle items, each pool at its ceiling, what stays unpriced and why,
the notes and each rate's dated source."""

from __future__ import annotations

from .pricing import CostReport
from .resources import UnpricedLine


def _usd(x: float) -> str:
    return f"${x:,.3f}" if x < 10 else f"${x:,.2f}"


def idle_lines(report: CostReport) -> list[str]:
    """The idle items as a table, its total last."""
    lines = [f"  {'item':<42} {'count':>6} {'unit':<14} {'$/h each':>9} {'$/h':>9}"]
    serving = [i for s in report.serving for i in s.items]
    for i in list(report.fixed) + [i for p in report.pools for i in p.idle] + serving:
        count = f"{i.quantity:g}"
        lines.append(
            f"  {i.what:<42} {count:>6} {i.unit:<14} {i.unit_hourly:>9.4f} {i.hourly:>9.4f}"
        )
    zero = [p.name for p in report.pools if not p.idle]
    if zero:
        lines.append(f"  (at zero nodes: {', '.join(zero)})")
    lines.append(
        f"  {'idle total':<42} {'':>6} {'':<14} {'':>9} {report.idle_hourly:>9.4f}"
        f"   = {_usd(report.idle_hourly)}/h, {_usd(report.monthly(report.idle_hourly))}/month"
    )
    return lines


def format_report(report: CostReport) -> str:
    pr = report.prices
    title = f"stack '{report.stack}'" if report.stack else f"cluster {report.cluster}"
    lines = [
        f"Cost of {title} in {report.region}: on-demand list prices of {pr.date} "
        f"({pr.path.name}), USD",
        "",
    ]

    lines += ["Idle (no training job running):"] + idle_lines(report) + [""]

    if report.serving:
        lines += ["Served models (a running one is in the idle figure):"]
        lines += [f"  {s.summary()}" for s in report.serving] + [""]

    if report.dev_pod is not None:
        dp = report.dev_pod
        lines += ["Dev pod (while it runs):"]
        lines += [
            f"  {i.what:<42} {i.quantity:>6g} {i.unit:<14} {i.unit_hourly:>9.4f} {i.hourly:>9.4f}"
            for i in dp.items
        ]
        lines += [f"  {dp.summary()}", ""]

    lines += [
        "Each pool at its ceiling:",
        f"  {'pool':<14} {'kind':<18} {'at ceiling':<34} {'GPUs':>5} {'$/h':>10}  how",
    ]
    for p in report.pools:
        name = p.name + ("*" if p.spot else "")
        lines.append(
            f"  {name:<14} {p.kind:<18} {p.ceiling_mix:<34} {p.ceiling_gpus:>5} "
            f"{p.ceiling_hourly:>10.2f}  {p.note}"
        )
    lines += [
        f"  {'fixed (control plane, network, storage, keys)':<73} {report.fixed_hourly:>10.2f}",
        f"  {'every pool at its ceiling':<73} {report.ceiling_hourly:>10.2f}"
        f"   = {_usd(report.ceiling_hourly)}/h, "
        f"{_usd(report.monthly(report.ceiling_hourly))}/month, "
        f"{report.gpu_ceiling} GPUs",
        "",
    ]
    lines += unpriced_lines(report) + [""]
    lines += ["Notes:"] + [f"  - {n}" for n in report.notes]
    lines.append(f"  - prices: {pr.source} (as of {pr.date}; {pr.hours_per_month:g} h/month)")
    unconfirmed = report.unconfirmed()
    if unconfirmed:
        lines.append(
            f"  - not confirmed on AWS's own pages, so estimates until checked there: "
            f"{', '.join(unconfirmed)} (see Sources)"
        )
    lines += ["", "Sources of the rates used (page, day read, how sure):"]
    for row, s in report.sources().items():
        note = f": {' '.join(s.note.split())}" if s.note else ""
        lines.append(f"  - {row}: {s.url} (read {s.read}, {s.status()}){note}")
    return "\n".join(lines)


def _line(u: UnpricedLine) -> str:
    many = f" x{len(u.names)}" if len(u.names) > 1 else ""
    return f"  {u.type}{many}: {u.reason}"


# The kinds listed type by type, in this order, each under its heading.
_LISTED = (
    ("unknown", "NOT PRICED, type unknown to trainstack/cost/resources.py (may cost money):"),
    ("missing", "NOT PRICED, costs money while idle but has no rate in the table:"),
    ("usage", "Unpriced, billed by use ($0 while nothing uses it):"),
)


def unpriced_lines(report: CostReport) -> list[str]:
    """What the idle figure leaves out: billed by use, costing money without a price in the
    table, or of a type the table does not know; free and included types are counted."""
    lines = []
    for kind, heading in _LISTED:
        found = report.unpriced_of(kind)
        if found:
            lines += [heading] + [_line(u) for u in found]
    rest = report.unpriced_of("free", "included")
    if rest:
        types = len({u.type for u in rest})
        count = sum(len(u.names) for u in rest)
        lines.append(
            f"Free, or priced in another line: {count} resources of {types} types "
            "(`trainstack cost --json` lists each with its reason)"
        )
    return lines
