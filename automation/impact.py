"""The cost side of a change: the stack's maximum GPU count and hourly cost (idle, and every pool
at its ceiling) before and after, each priced offline from a stack file as `trainstack cost` does
(the program under the mock engine, its resources priced by trainstack/cost), so it needs no
Pulumi CLI and no cloud.

"Before" is the base branch's stack file (--base-stack-file); "after" the stack file in the
project dir, which is where `pulumi config set` (and so --set) writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automation.options import UsageError


@dataclass(frozen=True)
class Priced:
    gpu_ceiling: int
    idle_hourly: float
    ceiling_hourly: float
    region: str
    prices_date: str


class NotPriced(Exception):
    """A stack file that cannot be priced: missing, malformed, invalid config, no price."""


def price_stack_file(path: Path, stack: str) -> Priced:
    """Validate the stack file as `trainstack plan` does and price it; NotPriced says why not
    (a config error names its key, e.g. `trainstack:karpenter.nodePools.small.maxGpus`)."""
    # components' config and the stack loader pull in botocore and pulumi: loaded when priced.
    from components.config import ConfigError
    from trainstack.cost import PriceError
    from trainstack.offline.costing import price_stack
    from trainstack.offline.stack_config import StackFileError, load_stack_file

    try:
        report = price_stack(load_stack_file(path, stack), short_stack(stack))
    except (StackFileError, ConfigError, PriceError) as err:
        raise NotPriced(str(err)) from None
    return _priced(report)


def price_plan(result: Any) -> Priced:
    """The figures of an offline plan that has run (trainstack.offline.plan.PlanResult, the
    summary's): its resources priced, without running the program again."""
    from trainstack.cost import PriceError
    from trainstack.offline.costing import price_plan as price

    try:
        report = price(result)
    except PriceError as err:
        raise NotPriced(str(err)) from None
    return _priced(report)


def _priced(report: Any) -> Priced:
    return Priced(
        gpu_ceiling=report.gpu_ceiling,
        idle_hourly=report.idle_hourly,
        ceiling_hourly=report.ceiling_hourly,
        region=report.region,
        prices_date=report.prices.date,
    )


def short_stack(stack: str) -> str:
    """A stack's own name: `org/trainstack/dev` is `dev`."""
    return stack.rsplit("/", 1)[-1]


def stack_file_name(stack: str) -> str:
    """`Pulumi.<stack>.yaml`: the CLI names the file by the stack's last segment, so
    `org/trainstack/dev` is configured in Pulumi.dev.yaml."""
    return f"Pulumi.{short_stack(stack)}.yaml"


def check_base(path: Path, stack: str) -> Priced:
    """The base file is an input of this run: a bad one is a usage error (exit 2) before any
    Pulumi command runs, naming the flag."""
    try:
        return price_stack_file(path, stack)
    except NotPriced as err:
        raise UsageError(f"--base-stack-file {path}: {err}") from None


def _side(priced: Priced | None, note: str) -> dict[str, Any]:
    return {**(asdict(priced) if priced else {}), "note": note}


def impact(
    head_file: Path,
    stack: str,
    base: Priced | None,
    base_file: Path | None,
    head_plan: Any = None,
) -> dict[str, Any]:
    """{"before": ..., "after": ...}: each side the Priced fields plus a note (where it came
    from, or why it is not priced). A head file that cannot be priced is reported, not fatal:
    the preview itself says what is wrong with it. `head_plan`: the head file's offline plan,
    when one has run (the summary), priced instead of running the program again."""
    if base is not None:
        before = _side(base, f"base stack file {base_file}")
    else:
        before = _side(None, "not given (--base-stack-file)")
    try:
        head = (
            price_plan(head_plan) if head_plan is not None else price_stack_file(head_file, stack)
        )
        after = _side(head, f"stack file {head_file}")
    except NotPriced as err:
        after = _side(None, f"not priced: {err}")
    return {"before": before, "after": after}
