"""The operation driver: select/create the stack, apply config, run the operation, report."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from pulumi import automation as auto
from pulumi.automation import CommandError, ConfigValue, LocalWorkspaceOptions
from pulumi.automation.events import EngineEvent, OpType

from automation import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, EXIT_POLICY
from automation.changes import ChangeTally, has_changes
from automation.command import PulumiCLI
from automation.impact import Priced, impact, stack_file_name
from automation.markdown import write_markdown
from automation.options import POLICY_OPERATIONS, Options
from automation.summary import (
    build_summary,
    format_console,
    normalise_changes,
    scrub,
    write_summary,
)
from policies import PACK_NAME, controls_of

# Engine messages carry colour directives (`<{%fg 1%}>`) and the CLI may add ANSI escapes; both are
# noise in a CI log and would break the text search for policy levels.
_COLOR_TAGS = re.compile(r"<\{%[^%]*%\}>|\x1b\[[0-9;]*m")
# How the CLI prints a failed policy in its own output when no engine event reached us.
_MANDATORY_TEXT = re.compile(r"\[mandatory\]|mandatory policy violation", re.IGNORECASE)
# The CLI's error for --expect-no-changes ("no changes were expected but changes were proposed",
# "... for preview but ...", "... but changes occurred" across versions: pulumi/pulumi's
# NoChangesExpectedError and the older cmd/preview.go texts).
_NO_CHANGES_TEXT = re.compile(r"no changes were expected", re.IGNORECASE)
# The operations whose result changes what the stack may cost, and the offline summary of such
# a change: they get the before/after table.
_COST_OPERATIONS = ("preview", "up", "summary")
_ERROR_TAIL_LINES = 30

_OP_SYMBOL = {
    OpType.CREATE: "+",
    OpType.UPDATE: "~",
    OpType.DELETE: "-",
    OpType.REPLACE: "+-",
    OpType.CREATE_REPLACEMENT: "++",
    OpType.DELETE_REPLACED: "--",
    OpType.READ: ">",
    OpType.REFRESH: "~r",
    OpType.IMPORT: "=",
}


def strip_color(text: str) -> str:
    return _COLOR_TAGS.sub("", text)


def _name_from_urn(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else ""


class EventRecorder:
    """Collects what the summary needs from engine events and prints one line per step.

    Events arrive on an SDK thread (gRPC server or log watcher), hence the lock.
    """

    def __init__(self, out: TextIO, err: TextIO, print_steps: bool) -> None:
        self._out = out
        self._err = err
        self._print_steps = print_steps
        self._lock = threading.Lock()
        self.policy_violations: list[dict[str, Any]] = []
        self.changes: dict[str, int] | None = None
        self.failed: list[str] = []
        self.tally = ChangeTally()

    def _emit(self, stream: TextIO, line: str) -> None:
        with self._lock:
            print(line, file=stream, flush=True)

    def __call__(self, event: EngineEvent) -> None:
        if event.policy_event is not None:
            p = event.policy_event
            violation = {
                "pack": p.policy_pack_name,
                "pack_version": p.policy_pack_version,
                "policy": p.policy_name,
                "level": p.enforcement_level,
                "message": strip_color(p.message).strip(),
                "urn": p.resource_urn,
                # The baseline controls behind one of this project's rules (another pack's: none).
                "controls": list(controls_of(p.policy_name))
                if p.policy_pack_name == PACK_NAME
                else [],
            }
            with self._lock:
                self.policy_violations.append(violation)
            # Always shown: a violation is the one thing a reviewer must not miss.
            self._emit(
                self._err,
                f"policy [{p.enforcement_level}] {p.policy_pack_name}/"
                f"{p.policy_name}: {violation['message']}",
            )
        if event.summary_event is not None:
            with self._lock:
                self.changes = dict(event.summary_event.resource_changes or {})
        if event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            with self._lock:
                self.failed.append(meta.urn)
            self._emit(self._err, f"failed {meta.type} {_name_from_urn(meta.urn)}")
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.tally.add(meta.urn, getattr(meta.op, "value", meta.op))
        if not self._print_steps:
            return
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            if meta.op != OpType.SAME:
                symbol = _OP_SYMBOL.get(meta.op, "*")
                self._emit(
                    self._out, f"{symbol} {meta.op.value} {meta.type} {_name_from_urn(meta.urn)}"
                )
        elif event.res_outputs_event is not None and not event.res_outputs_event.planning:
            meta = event.res_outputs_event.metadata
            if meta.op != OpType.SAME:
                self._emit(
                    self._out, f"  done {meta.op.value} {meta.type} {_name_from_urn(meta.urn)}"
                )
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            # info is the program's own chatter; CI needs warnings and errors.
            if diag.severity in ("warning", "error") and not diag.ephemeral:
                self._emit(self._err, f"{diag.severity}: {strip_color(diag.message).rstrip()}")


def _tail(text: str, lines: int = _ERROR_TAIL_LINES) -> str:
    return "\n".join(strip_color(text).rstrip().splitlines()[-lines:])


def _has_mandatory(violations: list[dict[str, Any]]) -> bool:
    return any(v.get("level") == "mandatory" for v in violations)


def select_stack(opts: Options, command: PulumiCLI) -> auto.Stack:
    ws_opts = LocalWorkspaceOptions(pulumi_command=command)
    return auto.create_or_select_stack(
        stack_name=opts.stack, work_dir=str(opts.project_dir), opts=ws_opts
    )


def apply_config(stack: auto.Stack, opts: Options) -> None:
    # One `config set --path` per edit, so a failing edit names its key in the error. Plain
    # values go through the SDK, which puts them after `--` (values starting with '-' survive).
    for edit in opts.config:
        if edit.secret:
            set_secret(stack, edit.key, edit.value)
        else:
            stack.set_config(edit.key, ConfigValue(value=edit.value), path=True)


def set_secret(stack: auto.Stack, key: str, value: str) -> None:
    """The SDK's set_config would pass the value as an argument; here it goes in on stdin. The
    CLI strips one trailing newline from what it reads, so the one added keeps the value exact."""
    ws = stack.workspace
    env = {"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {}
    command: PulumiCLI = ws.pulumi_command  # select_stack gave the workspace ours
    command.run_with_stdin(
        ["config", "set", "--path", key, "--secret", "--stack", stack.name],
        ws.work_dir,
        {**env, **ws.env_vars},
        value + "\n",
    )


def execute(
    stack: auto.Stack, opts: Options, recorder: EventRecorder, out: TextIO, err: TextIO
) -> tuple[dict[str, int] | None, dict[str, Any]]:
    """Run the operation; return (change summary, outputs)."""
    common: dict[str, Any] = {"on_event": recorder}
    if opts.progress == "cli":
        common["on_output"] = lambda line: print(line, file=out, flush=True)
        common["on_error"] = lambda line: print(line, file=err, flush=True)
    if opts.message:
        common["message"] = opts.message
    packs = {"policy_packs": opts.policy_packs} if opts.policy_packs else {}
    if opts.refresh:  # preview/up only (cli.py)
        common["refresh"] = True

    if opts.operation == "preview":
        expect = {"expect_no_changes": True} if opts.expect_no_changes else {}
        res = stack.preview(**common, **packs, **expect)
        return dict(res.change_summary or {}), {}
    if opts.operation == "up":
        up = stack.up(**common, **packs)
        return _history_changes(up.summary), dict(up.outputs)
    if opts.operation == "refresh":
        ref = stack.refresh(**common)
        return _history_changes(ref.summary), dict(stack.outputs())
    if opts.operation == "destroy":
        des = stack.destroy(**common)
        return _history_changes(des.summary), {}
    raise ValueError(f"unknown operation {opts.operation!r}")


def _history_changes(summary: Any) -> dict[str, int] | None:
    # The stack history is the backend's record of what happened; None when its entry carries
    # no counts, and run() falls back to the engine's summary event.
    if summary is not None and summary.resource_changes:
        return dict(summary.resource_changes)
    return None


def run(
    opts: Options,
    command: PulumiCLI,
    *,
    out: TextIO,
    err: TextIO,
    clock=time.monotonic,
    base: Priced | None = None,
) -> int:
    start = clock()
    recorder = EventRecorder(out, err, print_steps=opts.progress == "events")
    packs = opts.policy_packs if opts.operation in POLICY_OPERATIONS else []
    if opts.policy_packs and not packs:
        print(
            f"automation: warning: --policy-pack is ignored for {opts.operation} "
            "(the SDK passes packs to preview/up only)",
            file=err,
        )

    changes: dict[str, int] | None = None
    outputs: dict[str, Any] = {}
    phase = "select"
    error: str | None = None
    full_error = ""  # searched for a policy violation whole; `error` is what is shown
    try:
        print(
            f"automation: {opts.operation} on stack {opts.stack} "
            f"({Path(opts.project_dir).resolve()})",
            file=out,
            flush=True,
        )
        stack = select_stack(opts, command)
        phase = "config"
        apply_config(stack, opts)
        phase = "operation"
        changes, outputs = execute(stack, opts, recorder, out, err)  # packs: preview/up only
        phase = None
    except CommandError as e:
        # With a long stderr the violation line may fall outside the tail shown.
        full_error, error = strip_color(str(e)), _tail(str(e))
    except Exception as e:
        full_error = error = f"{type(e).__name__}: {e}"

    violations = recorder.policy_violations
    if changes is None:
        changes = recorder.changes
    changes = normalise_changes(changes)
    drift = opts.expect_no_changes and (
        bool(_NO_CHANGES_TEXT.search(full_error)) or (error is None and has_changes(changes))
    )
    if error is not None:
        error = scrub(error, opts.secret_values)
    if _has_mandatory(violations) or _MANDATORY_TEXT.search(full_error):
        code, result = EXIT_POLICY, "policy-violation"
    elif drift:
        # The CLI's refusal is the drift itself, not a failure of the run.
        code, result, error = EXIT_DRIFT, "drift", None
        print(f"automation: drift: the {opts.operation} proposes changes", file=err)
    elif error is not None:
        code, result = EXIT_FAILED, "failed"
    else:
        code, result = EXIT_OK, "succeeded"
    if error is not None:
        print(f"automation: {opts.operation} failed during {phase}:\n{error}", file=err)

    summary = build_summary(
        operation=opts.operation,
        stack=opts.stack,
        result=result,
        exit_code=code,
        changes=changes,
        outputs=outputs,
        policy_violations=violations,
        duration_seconds=clock() - start,
        policy_packs=packs,
        config_keys=[e.key for e in opts.config],
        phase=phase if error is not None else None,
        error=error,
        changes_by_component=recorder.tally.by_component(),
        cost_impact=cost_impact(opts, base),
    )
    report(summary, opts, out)
    return code


def cost_impact(opts: Options, base: Priced | None, head_plan: Any = None) -> dict[str, Any] | None:
    """Before/after for the operations that change the stack (read after `config set` wrote
    the edits to the stack file); None for refresh/destroy. `head_plan`: the stack file's
    offline plan when the operation ran one (impact.impact)."""
    if opts.operation not in _COST_OPERATIONS:
        return None
    head = Path(opts.project_dir) / stack_file_name(opts.stack)
    return impact(head, opts.stack, base, opts.base_stack_file, head_plan)


def report(summary: dict[str, Any], opts: Options, out: TextIO) -> None:
    print(format_console(summary), file=out, flush=True)
    if opts.summary_path is not None:
        write_summary(opts.summary_path, summary)
    if opts.markdown_path is not None:
        write_markdown(opts.markdown_path, summary)


def report_failure(
    opts: Options, phase: str, error: str, *, out: TextIO, base: Priced | None = None
) -> int:
    """A run that could not start (no Pulumi CLI): the same console summary and --summary file
    as any failed run, so CI finds the file it was promised."""
    packs = opts.policy_packs if opts.operation in POLICY_OPERATIONS else []
    summary = build_summary(
        operation=opts.operation,
        stack=opts.stack,
        result="failed",
        exit_code=EXIT_FAILED,
        changes={},
        outputs={},
        policy_violations=[],
        duration_seconds=0.0,
        policy_packs=packs,
        config_keys=[e.key for e in opts.config],
        phase=phase,
        error=error,
        changes_by_component={},
        cost_impact=cost_impact(opts, base),
    )
    report(summary, opts, out)
    return EXIT_FAILED
