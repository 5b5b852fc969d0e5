"""How long the policy pack takes over a stack's plan: every resource rule on every resource
and every stack rule over the whole stack, as `trainstack plan` runs them (policies.check_plan)
and as CrossGuard runs the same functions per resource. The plan itself is made once and not
timed in the pack's figure.

    .venv/bin/python bench/policy_pack.py [--stack dev] [--stack efa] [--rounds 20]

Prints, per stack, the resources, the rules, the plan's time and the pack's best and median
time over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import policies
from trainstack.offline import plan as offline_plan

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", action="append", default=None)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    rules = len(policies.ALL_RULES) + len(policies.STACK_RULES)
    for stack in args.stack or ["dev", "efa"]:
        t0 = time.perf_counter()
        result = offline_plan.run(ROOT, stack)
        planned_s = time.perf_counter() - t0
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            policies.check_plan(result.plan.resources, result.policy_config)
            times.append(time.perf_counter() - t0)
        print(
            f"{stack}: {len(result.plan.resources)} resources, {rules} rules; plan "
            f"{planned_s:.2f} s; pack best {min(times) * 1000:.1f} ms, median "
            f"{statistics.median(times) * 1000:.1f} ms over {args.rounds} rounds"
        )


if __name__ == "__main__":
    main()
