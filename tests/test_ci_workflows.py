"""The GitHub Actions workflows in examples/ci/ (issue 17): actionlint (with shellcheck on every
`run:` script) passes on each and fails on a broken copy; every action is pinned by commit SHA with
its tag beside it; every `python -m automation` line parses with the driver's own parser; AWS is
reached by OIDC only, secrets only through --set-secret-env, one run at a time per stack."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / "examples" / "ci"
WORKFLOWS = sorted(CI.glob("*.yml"))
NAMES = [p.name for p in WORKFLOWS]

# The tag each pinned commit is, read off the upstream repositories with
# `git rev-parse '<tag>^{commit}'` (the newest release tag of each when pinned); a new pin or bump
# updates this table after the same check.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
    ),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "marocchino/sticky-pull-request-comment": (
        "5770ad5eb8f42dd2c4f34da00c94c5381e49af88",
        "v3.0.5",
    ),
}
AWS_ACTION = "aws-actions/configure-aws-credentials"
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+?)(?:\s+#\s*(?P<comment>.*))?$")
AUTOMATION = re.compile(r"(?:^|\s)\S*python3?\s+-m\s+automation\s")


def _tool(name: str) -> str:
    # The venv's bin first: pytest may run without the venv on PATH.
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not installed: pip install -e '.[test]'")
    return found


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    # shellcheck named explicitly so the scripts are always checked (actionlint silently skips
    # them when it finds none); pyflakes off: no step runs Python inline.
    cmd = [_tool("actionlint"), "-no-color", "-shellcheck", _tool("shellcheck"), "-pyflakes="]
    return subprocess.run(
        [*cmd, *map(str, paths)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _triggers(wf: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as True.
    on = wf.get("on", wf.get(True))
    return {on: None} if isinstance(on, str) else dict(on)


def _steps(wf: dict):
    for job_id, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def _aws_jobs(wf: dict) -> dict:
    return {
        job_id: job
        for job_id, job in wf["jobs"].items()
        if any(s.get("uses", "").startswith(AWS_ACTION + "@") for s in job.get("steps", []))
    }


def _automation_steps(wf: dict):
    for job_id, job, step in _steps(wf):
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            if AUTOMATION.search(line):
                yield job_id, job, step, line


def _argv(line: str) -> list[str]:
    """The driver's arguments in a `run:` line, shell variables replaced by placeholders."""
    line = re.sub(r"\$\{\w+:\+([^}]*)\}", r"\1", line)  # ${VAR:+WORD}: the set case
    line = re.sub(r"\$\{?(\w+)\}?", r"placeholder-\1", line)
    words = shlex.split(line)
    return words[words.index("automation") + 1 :]


def _commands(name: str) -> list[list[str]]:
    return [_argv(line) for *_, line in _automation_steps(_load(CI / name))]


def test_the_three_workflows_exist():
    assert {"pull-request.yml", "main.yml", "drift.yml"} <= set(NAMES)


# --- actionlint ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_actionlint_passes(path: Path):
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    "old,new,rule",
    [
        ("runs-on:", "run-on:", "syntax-check"),  # an unknown job key
        ("${{ matrix.stack }}", "${{ matrix.stacks }}", "expression"),  # no such matrix value
        # An unquoted expansion: proves shellcheck runs on the scripts (SC2086).
        ('cat "$RUNNER_TEMP/summary.md"', "cat $RUNNER_TEMP/summary.md", "shellcheck"),
    ],
    ids=["unknown-key", "bad-expression", "shellcheck"],
)
def test_actionlint_fails_on_a_broken_workflow(tmp_path: Path, old: str, new: str, rule: str):
    text = (CI / "pull-request.yml").read_text()
    assert old in text
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace(old, new))
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"[{rule}]" in result.stdout, result.stdout


# --- pins ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_every_action_is_pinned_by_sha_with_its_tag(path: Path):
    lines = [ln for ln in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", ln)]
    assert lines, f"{path.name} uses no action"
    wrong = []
    for ln in lines:
        m = USES_LINE.match(ln)
        action, _, sha = m.group("ref").partition("@")
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            wrong.append(f"{action}@{sha}: not a 40-hex commit SHA")
        elif action not in PINS or PINS[action] != (sha, m.group("comment")):
            wrong.append(f"{ln.strip()}: expected one of the checked pins {PINS.get(action)}")
    assert not wrong, wrong


def test_pulumi_cli_and_python_match_the_project():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sdk = next(d for d in project["dependencies"] if re.match(r"pulumi[<>=]", d))
    sdk_range = SpecifierSet(sdk.removeprefix("pulumi"))
    pythons = SpecifierSet(project["requires-python"])
    for path in WORKFLOWS:
        for _, _, step in _steps(_load(path)):
            uses, given = step.get("uses", ""), step.get("with", {})
            if uses.startswith("pulumi/actions@"):
                assert "command" not in given, "install only: the driver runs the CLI"
                assert Version(str(given["pulumi-version"])) in sdk_range, path.name
            if uses.startswith("actions/setup-python@"):
                assert Version(str(given["python-version"])) in pythons, path.name


# --- the driver's command lines --------------------------------------------------------------


def test_each_workflow_runs_the_operation_it_is_for():
    ops = {name: [argv[0] for argv in _commands(name)] for name in NAMES}
    assert ops["pull-request.yml"] == ["preview", "summary"]
    assert ops["main.yml"] == ["up"]
    assert ops["drift.yml"] == ["preview"]
    drift = _commands("drift.yml")[0]
    assert "--refresh" in drift and "--expect-no-changes" in drift
    for name in NAMES:
        for argv in _commands(name):
            assert "--markdown" in argv, f"{name}: {argv[0]} writes no summary"


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_every_automation_command_parses(path: Path):
    from automation.cli import build_parser

    for _, _, _, line in _automation_steps(_load(path)):
        ns = build_parser().parse_args(_argv(line))
        assert ns.markdown is not None
        if ns.operation in ("preview", "up"):
            assert ns.policy_packs == ["policies"] or ns.expect_no_changes, line


def test_base_stack_file_expansion_is_read_as_set():
    line = '.venv/bin/python -m automation summary --stack "$STACK" ${B:+--base-stack-file "$B"}'
    assert _argv(line) == [
        "summary",
        "--stack",
        "placeholder-STACK",
        "--base-stack-file",
        "placeholder-B",
    ]


# --- secrets, OIDC, one run per stack --------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_secrets_reach_the_driver_only_through_the_environment(path: Path):
    from components.config import SECRET_KEYS

    wf = _load(path)
    for job_id, _, step in _steps(wf):
        assert "secrets." not in step.get("run", ""), f"{job_id}: a secret inside a script"
    for job_id, job, step, line in _automation_steps(wf):
        argv = _argv(line)
        assert not any(a == "--set-secret" or a.startswith("--set-secret=") for a in argv), line
        env = {**wf.get("env", {}), **job.get("env", {}), **step.get("env", {})}
        for i, arg in enumerate(argv):
            if arg == "--set-secret-env":
                key, _, var = argv[i + 1].partition("=")
                # A key the stack reads as a secret (components/config/platform.py).
                assert key in SECRET_KEYS, f"{key} is not one of {SECRET_KEYS}"
                assert re.fullmatch(r"\$\{\{\s*secrets\.\w+\s*\}\}", env.get(var, "")), (
                    f"{job_id}: {var} is not mapped from a secret in the step's env"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_aws_by_oidc_and_one_run_per_stack(path: Path):
    wf = _load(path)
    assert wf.get("permissions") == {}, "no default token permissions"
    jobs = _aws_jobs(wf)
    if path.name in ("main.yml", "drift.yml"):
        assert set(jobs) == set(wf["jobs"])
    for job_id, job in jobs.items():
        assert job["permissions"].get("id-token") == "write", job_id
        aws = next(s for s in job["steps"] if s.get("uses", "").startswith(AWS_ACTION))
        assert "role-to-assume" in aws["with"], job_id
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"]), job_id
        # The same group in every workflow, keyed by stack: one run at a time holds a stack.
        assert job["concurrency"] == {
            "group": "pulumi-stack-${{ matrix.stack }}",
            "cancel-in-progress": False,
        }, job_id
        assert job["env"]["PULUMI_BACKEND_URL"].startswith("${{ vars."), job_id
        assert "secrets." in job["env"]["PULUMI_CONFIG_PASSPHRASE"], job_id
    for job_id, job in wf["jobs"].items():
        writes = {k for k, v in job.get("permissions", {}).items() if v == "write"}
        allowed = {"id-token", "pull-requests"} if job_id in jobs else set()
        assert writes <= allowed, f"{job_id} writes {writes - allowed}"


def test_pull_requests_from_forks_get_no_cloud_and_no_secrets():
    wf = _load(CI / "pull-request.yml")
    assert set(_triggers(wf)) == {"pull_request"}
    same, fork = wf["jobs"]["preview"], wf["jobs"]["fork-summary"]
    assert same["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert fork["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert "fork-summary" not in _aws_jobs(wf)
    assert "secrets." not in yaml.safe_dump(fork)
    assert fork["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_no_trigger_runs_untrusted_code_with_secrets(path: Path):
    assert not {"pull_request_target", "workflow_run"} & set(_triggers(_load(path)))


def test_triggers():
    assert set(_triggers(_load(CI / "main.yml"))) == {"push"}
    assert _triggers(_load(CI / "main.yml"))["push"] == {"branches": ["main"]}
    drift = _triggers(_load(CI / "drift.yml"))
    assert set(drift) == {"schedule", "workflow_dispatch"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=NAMES)
def test_the_summary_reaches_the_job_summary_even_when_the_operation_fails(path: Path):
    wf = _load(path)
    for job_id, job, step, _ in _automation_steps(wf):
        after = job["steps"][job["steps"].index(step) + 1 :]
        assert any(
            "GITHUB_STEP_SUMMARY" in s.get("run", "") and "!cancelled()" in s.get("if", "")
            for s in after
        ), f"{job_id}: no job-summary step that runs after a failure"
