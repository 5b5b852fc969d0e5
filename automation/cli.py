"""Argument parsing for `python -m automation`, and the entry point tying it to the driver."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import yaml

from automation import EXIT_USAGE
from automation.command import PulumiCLI
from automation.impact import Priced, check_base
from automation.options import (
    DEFAULT_NAMESPACE,
    EXPECT_NO_CHANGES_OPERATIONS,
    OPERATIONS,
    REFRESH_OPERATIONS,
    ConfigEdit,
    Options,
    UsageError,
)
from automation.run import report_failure, run
from trainstack.project import package_version


class _Parser(argparse.ArgumentParser):
    # argparse exits on its own; raising instead lets main() return the documented code and keeps
    # tests free of SystemExit handling.
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m automation",
        description="Run a Pulumi operation on a trainstack stack for CI.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    p.add_argument("operation", choices=OPERATIONS)
    p.add_argument("--stack", required=True, help="stack name, e.g. dev or org/trainstack/dev")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="config edit with --path semantics; repeatable",
    )
    p.add_argument(
        "--set-secret",
        dest="secret_sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="like --set, stored encrypted; repeatable (the "
        "value is in this command line: prefer --set-secret-env)",
    )
    p.add_argument(
        "--set-secret-env",
        dest="secret_env_sets",
        action="append",
        default=[],
        metavar="PATH=ENVVAR",
        help="a secret taken from environment variable "
        "ENVVAR, so it is in no command line; repeatable",
    )
    p.add_argument(
        "--policy-pack",
        dest="policy_packs",
        action="append",
        default=[],
        metavar="DIR",
        help="policy pack directory (preview/up); repeatable",
    )
    p.add_argument("--summary", type=Path, metavar="FILE", help="write a JSON summary here")
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write the summary as Markdown (changes by component, policy result, GPU ceiling "
        "and cost before/after) for $GITHUB_STEP_SUMMARY or a PR comment",
    )
    p.add_argument(
        "--base-stack-file",
        type=Path,
        metavar="FILE",
        help="the base branch's Pulumi.<stack>.yaml: the 'before' of the cost table",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="refresh the state from the cloud first (preview, up)",
    )
    p.add_argument(
        "--expect-no-changes",
        action="store_true",
        help="exit 4 when the preview proposes any change: a drift check (preview)",
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        help="directory holding Pulumi.yaml (default: .)",
    )
    p.add_argument(
        "--progress",
        choices=("events", "cli"),
        default="events",
        help="events: one line per resource step; cli: the CLI's own output",
    )
    p.add_argument("--message", help="update message recorded in the stack history")
    p.add_argument("--yes", action="store_true", help="required for destroy")
    return p


# The top-level segment of a config path ends at the first '.' or '['; a ':' inside it is the
# namespace separator (`aws:region`, `trainstack:nodePools[0].size`).
_TOP_SEGMENT = re.compile(r"^[^.\[]+")


def qualify_key(key: str, namespace: str) -> str:
    top = _TOP_SEGMENT.match(key)
    if top is None:
        raise UsageError(f"config key {key!r} does not start with a name")
    return key if ":" in top.group(0) else f"{namespace}:{key}"


def _split(raw: str, flag: str, form: str, *, need_value: bool = False) -> tuple[str, str]:
    """KEY=REST of a --set* argument; REST is kept as given (a value may have spaces)."""
    key, sep, rest = raw.partition("=")
    key = key.strip()
    if not sep or not key or (need_value and not rest.strip()):
        raise UsageError(f"{flag} expects {form}, got {raw!r}")
    return key, rest


def parse_edit(raw: str, namespace: str, secret: bool) -> ConfigEdit:
    key, value = _split(raw, "--set-secret" if secret else "--set", "PATH=VALUE")
    return ConfigEdit(qualify_key(key, namespace), value, secret)


def secret_from_env(raw: str, namespace: str) -> ConfigEdit:
    """PATH=ENVVAR: the secret is the variable's value (a CI secret mapped into env)."""
    key, var = _split(raw, "--set-secret-env", "PATH=ENVVAR", need_value=True)
    var = var.strip()
    value = os.environ.get(var)
    if not value:
        raise UsageError(
            f"--set-secret-env {raw}: environment variable {var} is not set or "
            "empty (map the CI secret into the step's env)"
        )
    return ConfigEdit(qualify_key(key, namespace), value, True)


def project_namespace(project_dir: Path) -> str:
    """The project name from Pulumi.yaml: the namespace the CLI itself gives bare keys."""
    try:
        with open(project_dir / "Pulumi.yaml", encoding="utf-8") as f:
            name = (yaml.safe_load(f) or {}).get("name")
    except FileNotFoundError:
        raise UsageError(f"no Pulumi.yaml in project dir {project_dir}") from None
    return name if isinstance(name, str) and name else DEFAULT_NAMESPACE


def parse_args(argv: list[str]) -> Options:
    ns = build_parser().parse_args(argv)
    project_dir: Path = ns.project_dir
    if not project_dir.is_dir():
        raise UsageError(f"project dir {project_dir} does not exist")
    namespace = project_namespace(project_dir)
    edits = [parse_edit(s, namespace, False) for s in ns.sets]
    edits += [parse_edit(s, namespace, True) for s in ns.secret_sets]
    edits += [secret_from_env(s, namespace) for s in ns.secret_env_sets]
    for pack in ns.policy_packs:
        # The CLI runs inside the project dir, so that is where a relative pack must exist;
        # failing here beats a confusing plugin error halfway through a preview.
        if not (project_dir / pack).is_dir():
            raise UsageError(f"policy pack {pack!r} not found under {project_dir}")
    if ns.operation == "destroy" and not ns.yes:
        raise UsageError("destroy deletes every resource of the stack; pass --yes to confirm")
    _check_operation_flags(ns, edits)
    return Options(
        operation=ns.operation,
        stack=ns.stack,
        project_dir=project_dir,
        config=edits,
        policy_packs=list(ns.policy_packs),
        summary_path=ns.summary,
        progress=ns.progress,
        message=ns.message,
        markdown_path=ns.markdown,
        base_stack_file=ns.base_stack_file,
        refresh=ns.refresh,
        expect_no_changes=ns.expect_no_changes,
    )


def _check_operation_flags(ns: argparse.Namespace, edits: list[ConfigEdit]) -> None:
    op = ns.operation
    if ns.refresh and op not in REFRESH_OPERATIONS:
        raise UsageError(f"--refresh is for {' and '.join(REFRESH_OPERATIONS)}, not {op}")
    if ns.expect_no_changes and op not in EXPECT_NO_CHANGES_OPERATIONS:
        raise UsageError(
            f"--expect-no-changes is for {' and '.join(EXPECT_NO_CHANGES_OPERATIONS)}, not {op}"
        )
    if ns.base_stack_file is not None and not ns.base_stack_file.is_file():
        raise UsageError(
            f"--base-stack-file {ns.base_stack_file}: no such file (give the base branch's "
            "stack file, e.g. `git show origin/main:Pulumi.dev.yaml > base.yaml`)"
        )
    if op == "summary" and (edits or ns.policy_packs):
        raise UsageError(
            "summary plans the stack file as committed with the project's policies/ rules: "
            "--set, --set-secret, --set-secret-env and --policy-pack are for preview and up"
        )


INSTALL_PULUMI = (
    "Install it with `curl -fsSL https://get.pulumi.com | sh` (or `brew install "
    "pulumi/tap/pulumi`; in GitHub Actions, pulumi/actions), then check "
    "`pulumi version`; docs: https://www.pulumi.com/docs/iac/download-install/"
)


def main(
    argv: list[str] | None = None,
    *,
    pulumi_command: PulumiCLI | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        opts = parse_args(list(sys.argv[1:] if argv is None else argv))
        base: Priced | None = None
        if opts.base_stack_file is not None:
            base = check_base(opts.base_stack_file, opts.stack)
    except UsageError as e:
        build_parser().print_usage(err)
        print(f"automation: error: {e}", file=err)
        return EXIT_USAGE
    if opts.operation == "summary":
        from automation.offline import summarise  # loads the offline plan, no Pulumi CLI

        return summarise(opts, base, out=out, err=err)
    if pulumi_command is None:
        try:
            pulumi_command = _real_command()
        except Exception as e:
            why = "no `pulumi` on PATH" if isinstance(e, FileNotFoundError) else str(e)
            print(f"automation: cannot use the Pulumi CLI: {why}. {INSTALL_PULUMI}", file=err)
            # CI reads the summary whatever happened, so it is written here too.
            return report_failure(
                opts, "cli", f"cannot use the Pulumi CLI: {why}", out=out, base=base
            )
    return run(opts, pulumi_command, out=out, err=err, base=base)


def _real_command() -> PulumiCLI:
    # Constructing it runs `pulumi version` once and checks it against the SDK's minimum.
    return PulumiCLI()
