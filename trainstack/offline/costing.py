"""A stack priced from what its program creates: the program runs under the mock engine (no
cloud, no Pulumi CLI) and trainstack.cost prices the resources it registers, so `trainstack cost`,
the plan and the CI summary price the same things and a new resource is noticed.

Only the registrations are needed, not the plan's checks (schemas, policies), so this is the
cheap part of `trainstack plan`.
"""

from __future__ import annotations

import functools
import json
import runpy
from pathlib import Path
from typing import TYPE_CHECKING

from components import catalog
from components import config as platform_config

from .. import cost
from .captured import OfflinePlan
from .engine import run_program
from .stack_config import StackConfig

if TYPE_CHECKING:  # the plan loads the schemas and policies: not needed to price a stack file
    from .plan import PlanResult

# The checkout's own program, for a project folder that holds only stack files (the CI driver's
# --base-stack-file, tests): __main__.py beside the components package.
PACKAGED_PROGRAM = Path(platform_config.__file__).resolve().parents[2] / "__main__.py"


def resources_of(plan: OfflinePlan) -> list[cost.Resource]:
    """What the pricing reads of each registration; `.get()` reads create nothing."""
    return [
        cost.Resource(r.type, r.name, r.plain_inputs) for r in plan.resources if r.read_id is None
    ]


def price_plan(result: PlanResult) -> cost.CostReport:
    """Price a plan that has run (the plan's report, the CI summary): its resources, without
    running the program again; raises PriceError."""
    return cost.estimate(result.config, stack=result.stack, resources=resources_of(result.plan))


@functools.lru_cache(maxsize=16)
def _registered(
    program: str, stack: str, values: str, secret_keys: tuple[str, ...], region: str
) -> tuple[cost.Resource, ...]:
    # Cached by the config's text: the CI driver prices the same file before and after, and a
    # run takes seconds.
    plan = run_program(
        lambda: runpy.run_path(program, run_name="__main__"),
        config=json.loads(values),
        secret_keys=secret_keys,
        stack=stack,
        az_names=list(catalog.REGION_ZONES[region]),
    )
    return tuple(resources_of(plan))


def stack_resources(
    stack_cfg: StackConfig, cfg: platform_config.PlatformConfig, project_dir: Path | None = None
) -> list[cost.Resource]:
    """The resources the program registers for this stack config (validated first as `cfg`)."""
    local = project_dir / "__main__.py" if project_dir is not None else None
    program = local if local is not None and local.is_file() else PACKAGED_PROGRAM
    stack = stack_cfg.stack or "stack"
    values = json.dumps(stack_cfg.config, sort_keys=True)
    secret_keys = tuple(stack_cfg.secret_keys)
    return list(_registered(str(program), stack, values, secret_keys, cfg.region))


def price_stack(
    stack_cfg: StackConfig,
    stack: str,
    prices_file: Path = cost.PRICES_FILE,
    project_dir: Path | None = None,
) -> cost.CostReport:
    """Validate and price a stack config with the price table `prices_file`; raises ConfigError
    or PriceError (the table is read before the program runs)."""
    cfg = platform_config.parse_pulumi_config(stack_cfg.config)
    prices = cost.load_prices(cfg.region, prices_file)
    resources = stack_resources(stack_cfg, cfg, project_dir)
    return cost.estimate(cfg, prices, stack, resources)
