"""The Pulumi CLI as the driver runs it: the SDK's PulumiCommand, plus a run that feeds the
command's stdin. `pulumi config set KEY --secret` with no value argument reads the value from a
non-terminal stdin, so a secret never appears in the argv of any process (`ps`, audit logs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation._cmd import _fixup_path  # the SDK's own PATH rule for an absolute CLI
from pulumi.automation.errors import create_command_error


class PulumiCLI(PulumiCommand):
    def run_with_stdin(
        self, args: list[str], cwd: str, additional_env: Mapping[str, str], stdin: str
    ) -> CommandResult:
        """Run `pulumi ARGS` with `stdin` as its input, like PulumiCommand.run otherwise:
        non-interactive, the automation marker in the environment, CommandError on failure."""
        args = list(args)
        before_values = args[: args.index("--")] if "--" in args else args
        if "--non-interactive" not in before_values:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):  # the plugins bundled beside that CLI come first
            env = _fixup_path(env, os.path.dirname(self.command))
        proc = subprocess.run(
            [self.command, *args],
            input=stdin,
            cwd=cwd,
            env=env,
            capture_output=True,
            encoding="utf-8",
            check=False,
        )
        result = CommandResult(
            stdout=proc.stdout.rstrip(), stderr=proc.stderr.rstrip(), code=proc.returncode
        )
        if proc.returncode != 0:
            raise create_command_error(result)
        return result
