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
