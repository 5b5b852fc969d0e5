"""The Pulumi CLI as the driver runs it: the SDK's PulumiCommand, plus a run that feeds the
command's stdin. `pulumi config set KEY --secret` with no value argument reads the value from a
non-terminal stdin, so a secret never appears in the argv of any process (`ps`, audit logs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error


class PulumiCLI(PulumiCommand):
    def run_with_stdin(self, args: list[str], cwd: str, additional_env: Mapping[str, str],
                       stdin: str) -> CommandResult:
        """Run `pulumi ARGS` with `stdin` as its input, like PulumiCommand.run otherwise:
        non-interactive, the automation marker in the environment, CommandError on failure."""
        args = list(args)
        if "--non-interactive" not in args:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        proc = subprocess.run([self.command, *args], input=stdin, cwd=cwd, env=env,
                              capture_output=True, text=True, check=False)
        result = CommandResult(stdout=proc.stdout.rstrip(), stderr=proc.stderr.rstrip(),
                               code=proc.returncode)
        if proc.returncode != 0:
            raise create_command_error(result)
        return result
