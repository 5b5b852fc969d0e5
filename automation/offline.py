"""`python -m automation summary`: the pull-request summary without the Pulumi CLI or the cloud
(a fork's pull request gets no cloud credentials). It plans the stack file offline under the mock
engine (trainstack/offline/plan.py), which runs the policy pack's rules over the planned
resources, prices the head and base stack files, and writes the same summary as a preview; the
change table says that no preview ran. Exit 3 when a mandatory rule fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from automation import EXIT_FAILED, EXIT_OK, EXIT_POLICY, EXIT_USAGE
from automation.impact import Priced, short_stack, stack_file_name
from automation.options import Options
from automation.run import cost_impact, report
from automation.summary import build_summary
from policies import PACK_NAME

PACK_DIR = "policies"


def violation_record(v: Any) -> dict[str, Any]:
    """A policies.Violation in the shape of an engine policy event (run.EventRecorder)."""
    return {
        "pack": PACK_NAME,
        "pack_version": "",
        "policy": v.rule,
        "level": v.level,
        "message": v.message,
        "urn": v.urn,
        "controls": list(v.controls),
    }


def summarise(
    opts: Options, base: Priced | None, *, out: TextIO, err: TextIO, clock=time.monotonic
) -> int:
    # The mock engine and the program's components load only for this operation.
    from components.config import ConfigError
    from trainstack.offline import plan as offline_plan
    from trainstack.offline.stack_config import StackFileError

    start = clock()
    project_dir = Path(opts.project_dir)
    head = project_dir / stack_file_name(opts.stack)
    print(f"automation: summary of stack {opts.stack} from {head} (offline)", file=out, flush=True)
    violations: list[dict[str, Any]] = []
    phase, error = None, None
    result = None  # the head's plan, priced below (the program runs once)
    try:
        result = offline_plan.run(project_dir, short_stack(opts.stack), fetch_crds=False)
        violations = [violation_record(v) for v in result.policy_violations]
    except (ConfigError, StackFileError) as e:
        # The stack file is this operation's input: a bad one is bad input, named by flag.
        phase, error = "config", f"--stack {opts.stack} (--project-dir {project_dir}): {e}"
    except Exception as e:  # the program itself failed under the mock engine
        phase, error = "plan", f"{type(e).__name__}: {e}"

    if error is not None:
        code, outcome = (EXIT_USAGE if phase == "config" else EXIT_FAILED), "failed"
        print(f"automation: summary failed during {phase}:\n{error}", file=err)
    elif any(v["level"] == "mandatory" for v in violations):
        code, outcome = EXIT_POLICY, "policy-violation"
    else:
        code, outcome = EXIT_OK, "succeeded"
    summary = build_summary(
        operation="summary",
        stack=opts.stack,
        result=outcome,
        exit_code=code,
        changes={},
        outputs={},
        policy_violations=violations,
        duration_seconds=clock() - start,
        policy_packs=[PACK_DIR],
        config_keys=[],
        phase=phase,
        error=error,
        changes_by_component=None,
        cost_impact=cost_impact(opts, base, result),
    )
    report(summary, opts, out)
    return code
