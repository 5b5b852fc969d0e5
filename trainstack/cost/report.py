"""The cost report as text: idle items, each pool at its ceiling, and the notes."""

from __future__ import annotations

from .pricing import CostReport


def _usd(x: float) -> str:
    return f"${x:,.3f}" if x < 10 else f"${x:,.2f}"


def format_report(report: CostReport) -> str:
    pr = report.prices
    title = f"stack '{report.stack}'" if report.stack else f"cluster {report.cluster}"
    lines = [
        f"Cost of {title} in {report.region}: on-demand list prices of {pr.date} "
        f"({pr.path.name}), USD",
        "",
    ]

    lines += [
        "Idle (no training job running):",
        f"  {'item':<42} {'count':>6} {'unit':<14} {'$/h each':>9} {'$/h':>9}",
    ]
    idle_items = list(report.fixed) + [i for p in report.pools for i in p.idle]
    for i in idle_items:
        count = f"{i.quantity:g}"
        lines.append(
            f"  {i.what:<42} {count:>6} {i.unit:<14} {i.unit_hourly:>9.4f} {i.hourly:>9.4f}"
        )
    zero = [p.name for p in report.pools if not p.idle]
    if zero:
        lines.append(f"  (at zero nodes: {', '.join(zero)})")
    lines += [
        f"  {'idle total':<42} {'':>6} {'':<14} {'':>9} {report.idle_hourly:>9.4f}"
        f"   = {_usd(report.idle_hourly)}/h, {_usd(report.monthly(report.idle_hourly))}"
        "/month",
        "",
    ]

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
        f"  {'fixed (control plane, NAT, endpoints, KMS)':<73} {report.fixed_hourly:>10.2f}",
        f"  {'every pool at its ceiling':<73} {report.ceiling_hourly:>10.2f}"
        f"   = {_usd(report.ceiling_hourly)}/h, "
        f"{_usd(report.monthly(report.ceiling_hourly))}/month, "
        f"{report.gpu_ceiling} GPUs",
        "",
    ]
    lines += ["Notes:"] + [f"  - {n}" for n in report.notes]
    lines.append(f"  - prices: {pr.source} (as of {pr.date}; {pr.hours_per_month:g} h/month)")
    return "\n".join(lines)
