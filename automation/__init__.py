"""CI driver for the trainstack Pulumi program, built on `pulumi.automation`.

Usage::

    python -m automation preview|up|refresh|destroy|summary --stack dev
        [--set path=value ...] [--set-secret-env path=ENVVAR ...] [--set-secret path=value ...]
        [--policy-pack policies ...] [--summary out.json] [--markdown out.md]
        [--base-stack-file base.yaml] [--refresh] [--expect-no-changes] [--project-dir .]
        [--progress events|cli] [--message TEXT] [--yes]

The stack is selected, or created when it does not exist yet. Every `--set`/`--set-secret*` is
written with `pulumi config set --path` (so `nodePools[0].maxSize=4` edits one list item); keys
without a namespace get the project's (`trainstack:`). Secret values reach the CLI on stdin, never
as an argument; `--set-secret-env` reads them from an environment variable, so they are in no
command line at all. `--policy-pack` is passed to preview/up;
relative pack paths are resolved by the CLI from --project-dir. The change summary and outputs
(secrets masked) are printed, and `--summary` writes them as JSON for later CI steps.

`--markdown` writes the summary as Markdown for `$GITHUB_STEP_SUMMARY` or a pull-request comment:
changes by component, the policy result, and the maximum GPU count and hourly cost (idle and at
the GPU ceiling) before and after; "before" is the `--base-stack-file` (the base branch's
Pulumi.<stack>.yaml), priced offline. It is written whatever the outcome. `--refresh` refreshes the
state first (preview, up); `--expect-no-changes` turns any proposed change into exit 4 (preview:
the nightly drift check). The `summary` operation needs no Pulumi CLI and no cloud: it plans the
stack file offline, runs the policies/ rules over it and prices head and base (a fork's PR).

Exit codes:

    0  the operation succeeded (advisory policy violations are reported, not fatal)
    1  the operation failed: CLI error, failed resource, missing CLI, any unexpected error
    2  bad arguments: unknown operation, malformed --set, missing project dir or policy pack,
       destroy without --yes, a flag on an operation it is not for, a missing or invalid
       --base-stack-file (or, for summary, stack file)
    3  a mandatory policy violation (from the engine's policy events or the CLI's error text; for
       summary, from the offline plan's rules)
    4  drift: --expect-no-changes and the preview proposes changes
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_POLICY = 3
EXIT_DRIFT = 4
