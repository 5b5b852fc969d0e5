"""The command line checked and parsed into Options (automation/cli.py parse_args, qualify_key,
secret_from_env; automation/options.py): bad arguments exit 2 before pulumi runs."""

from __future__ import annotations

import pytest
from automation_support import FakePulumi, drive, no_real_cli, project_fixture  # noqa: F401  (fixtures)

from automation import EXIT_USAGE
from automation.cli import UsageError, qualify_key


@pytest.mark.parametrize(
    "argv, message",
    [
        (["preview", "--stack", "dev", "--set", "noequals"], "expects PATH=VALUE"),
        (["preview", "--stack", "dev", "--set", "=4"], "expects PATH=VALUE"),
        (["preview", "--stack", "dev", "--policy-pack", "nope"], "policy pack 'nope' not found"),
        (["destroy", "--stack", "dev"], "pass --yes"),
        (["deploy", "--stack", "dev"], "invalid choice"),
        (["preview"], "--stack"),
    ],
)
def test_bad_arguments_exit_2_without_running_pulumi(project, argv, message):
    fake = FakePulumi()
    code, _, err = drive([*argv, "--project-dir", str(project)], fake)
    assert code == EXIT_USAGE
    assert message in err
    assert fake.calls == []


@pytest.mark.parametrize(
    "key, expected",
    [
        ("region", "trainstack:region"),
        ("nodePools[0].maxSize", "trainstack:nodePools[0].maxSize"),
        ("aws:region", "aws:region"),
        ("trainstack:tags.a:b", "trainstack:tags.a:b"),
        ("tags.a:b", "trainstack:tags.a:b"),
    ],
)
def test_qualify_key(key, expected):
    assert qualify_key(key, "trainstack") == expected


def test_qualify_key_rejects_pathless_key():
    with pytest.raises(UsageError):
        qualify_key("[0]", "trainstack")


@pytest.mark.parametrize(
    "arg, message",
    [
        ("hfToken=CI_UNSET_TOKEN", "environment variable CI_UNSET_TOKEN is not set or empty"),
        ("hfToken", "--set-secret-env expects PATH=ENVVAR"),
        ("hfToken=", "--set-secret-env expects PATH=ENVVAR"),
    ],
)
def test_bad_secret_env_is_a_usage_error_before_anything_runs(project, monkeypatch, arg, message):
    monkeypatch.delenv("CI_UNSET_TOKEN", raising=False)
    fake = FakePulumi()
    code, _, err = drive(
        ["up", "--stack", "dev", "--project-dir", str(project), "--set-secret-env", arg], fake
    )
    assert code == EXIT_USAGE and message in err
    assert fake.calls == []  # no stack selected, no config half-applied


def _base(project, text: str):
    path = project / "base.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--refresh"], "--refresh is for preview and up, not destroy"),
        (["--expect-no-changes"], "--expect-no-changes is for preview, not destroy"),
    ],
)
def test_flags_on_an_operation_they_are_not_for_exit_2(project, extra, message):
    fake = FakePulumi()
    code, _, err = drive(
        ["destroy", "--yes", "--stack", "dev", "--project-dir", str(project), *extra], fake
    )
    assert code == EXIT_USAGE and message in err
    assert fake.calls == []


def test_expect_no_changes_is_not_for_up(project):
    code, _, err = drive(
        ["up", "--stack", "dev", "--project-dir", str(project), "--expect-no-changes"],
        FakePulumi(),
    )
    assert code == EXIT_USAGE and "--expect-no-changes is for preview, not up" in err


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "no such file"),
        ("config: [unclosed", "is not valid YAML"),
        # An invalid value names its config key.
        (
            "config:\n  aws:region: us-west-2\n  trainstack:network:\n    azCount: many\n",
            "trainstack:network.azCount",
        ),
    ],
)
def test_bad_base_stack_file_exits_2_naming_the_flag(project, text, message):
    base = str(project / "absent.yaml") if text is None else _base(project, text)
    fake = FakePulumi()
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--base-stack-file", base],
        fake,
    )
    assert code == EXIT_USAGE
    assert f"--base-stack-file {base}" in err and message in err
    assert fake.calls == []


@pytest.mark.parametrize(
    "extra", [["--set", "cluster.name=x"], ["--policy-pack", "policies"]], ids=["set", "pack"]
)
def test_summary_takes_no_config_edits_or_packs(project, extra):
    code, _, err = drive(
        ["summary", "--stack", "dev", "--project-dir", str(project), *extra], FakePulumi()
    )
    assert code == EXIT_USAGE and "summary plans the stack file as committed" in err


def test_summary_without_the_stack_file_exits_2_and_still_writes_the_markdown(project):
    md = project / "summary.md"
    code, _, err = drive(
        ["summary", "--stack", "dev", "--project-dir", str(project), "--markdown", str(md)], None
    )
    assert code == EXIT_USAGE
    assert "--stack dev" in err and "Pulumi.dev.yaml not found" in err
    assert "failed during `config`" in md.read_text()
