"""CI driver for the trainstack Pulumi program, built on `pulumi.automation`.

Usage::

    python -m automation preview|up|refresh|destroy --stack dev
        [--set path=value ...] [--set-secret-env path=ENVVAR ...] [--set-secret path=value ...]
        [--policy-pack policies ...] [--summary out.json] [--project-dir .]
        [--progress events|cli] [--message TEXT] [--yes]

The stack is selected, or created when it does not exist yet. Every `--set`/`--set-secret*` is
written with `pulumi config set --path` (so `nodePools[0].maxSize=4` edits one list item); keys
without a namespace get the project's (`trainstack:`). Secret values reach the CLI on stdin, never
as an argument; `--set-secret-env` reads them from an environment variable, so they are in no
command line at all. `--policy-pack` is passed to preview/up;
relative pack paths are resolved by the CLI from --project-dir. The change summary and outputs
(secrets masked) are printed, and `--summary` writes them as JSON for later CI steps.

Exit codes:

    0  the operation succeeded (advisory policy violations are reported, not fatal)
    1  the operation failed: CLI error, failed resource, missing CLI, any unexpected error
    2  bad arguments: unknown operation, malformed --set, missing project dir or policy pack,
       destroy without --yes
    3  a mandatory policy violation (from the engine's policy events or the CLI's error text)
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_POLICY = 3
