"""`python -m automation` driven through a fake PulumiCommand: no CLI, no backend, no cloud.

The fake stands in for the `pulumi` binary at the seam the SDK offers (PulumiCommand.run) and the
driver's own (PulumiCLI.run_with_stdin, which feeds secrets on stdin and is run against a real
stand-in process below), so everything above them -- LocalWorkspace, Stack, event streaming -- is
the real SDK code. It records
every command line and answers with canned output; for operations it also delivers canned engine
events to the `--event-log` target the SDK passed (gRPC for CLIs newer than 3.205, a file before).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pulumi.automation._cmd as sdk_cmd
import pytest
from pulumi.automation import CommandError, CommandResult
from pulumi.automation.errors import create_command_error
from pulumi.runtime.proto import events_pb2, events_pb2_grpc
from semver import VersionInfo

import automation.command
from automation import EXIT_FAILED, EXIT_OK, EXIT_POLICY, EXIT_USAGE
from automation.cli import UsageError, main, qualify_key
from automation.command import PulumiCLI

REPO = Path(__file__).resolve().parents[2]
LOG = "<event-log>"
SECRET_KUBECONFIG = "apiVersion: v1 token=SECRET-TOKEN-123"
CLUSTER_URN = "urn:pulumi:dev::trainstack::aws:eks/cluster:Cluster::cluster"
ROLE_URN = "urn:pulumi:dev::trainstack::aws:iam/role:Role::node-role"

MASKED_OUTPUTS = {"clusterName": "trainstack-dev", "kubeconfig": "[secret]", "pools": ["gpu"]}
PLAIN_OUTPUTS = {**MASKED_OUTPUTS, "kubeconfig": SECRET_KUBECONFIG}


def step(kind: str, op: str, urn: str, **extra) -> dict:
    typ = urn.split("::")[2]
    return {kind: {"metadata": {"op": op, "urn": urn, "type": typ, "provider": ""}, **extra}}


def policy(level: str) -> dict:
    return {
        "policyEvent": {
            "message": "EKS secrets must be encrypted with KMS",
            "color": "raw",
            "policyName": "eks-secrets-encryption",
            "policyPackName": "trainstack-guardrails",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "0.1.0",
            "enforcementLevel": level,
            "resourceUrn": CLUSTER_URN,
        }
    }


def plan_events(op: str = "create") -> list[dict]:
    return [
        step("resourcePreEvent", op, CLUSTER_URN, planning=True),
        step("resourcePreEvent", "same", ROLE_URN, planning=True),
        {
            "summaryEvent": {
                "maybeCorrupt": False,
                "durationSeconds": 1,
                "resourceChanges": {op: 1, "same": 1},
            }
        },
    ]


def history(changes: dict[str, int]) -> str:
    return json.dumps(
        [
            {
                "kind": "update",
                "startTime": "2026-11-25T10:00:00.000000Z",
                "message": "",
                "environment": {},
                "config": {},
                "result": "succeeded",
                "endTime": "2026-11-25T10:05:00.000000Z",
                "version": 7,
                "resourceChanges": changes,
            }
        ]
    )


class FakePulumi(PulumiCLI):
    """Stands in for PulumiCLI at its two seams (run, run_with_stdin); __init__ is replaced
    because the real one runs `pulumi version`."""

    def __init__(
        self,
        *,
        version: str = "3.272.0",
        stack_exists: bool = True,
        events: list[dict] | None = None,
        fail: dict[str, CommandResult] | None = None,
        history_changes: dict[str, int] | None = None,
    ) -> None:
        self.command = "pulumi"
        self.version = VersionInfo.parse(version)
        self.stack_exists = stack_exists
        self.events = plan_events() if events is None else events
        self.fail = fail or {}
        self.history_changes = history_changes or {"create": 1, "same": 1}
        self.calls: list[list[str]] = []
        self.stdin: list[str] = []  # what each run_with_stdin fed the CLI
        self.event_log_targets: list[str] = []

    def run_with_stdin(self, args, cwd, additional_env, stdin):
        self.stdin.append(stdin)
        return self.run(args, cwd, additional_env)

    def run(self, args, cwd, additional_env, on_output=None, on_error=None):
        args = list(args)
        self.calls.append(args)
        key = " ".join(args[:2])
        if args[0] in self.fail or key in self.fail:
            if args[0] in ("preview", "up", "refresh", "destroy"):
                self._deliver_events(args)
            raise create_command_error(self.fail.get(key) or self.fail[args[0]])
        if key == "stack select":
            if not self.stack_exists:
                raise create_command_error(
                    CommandResult("", "error: no stack named 'dev' found", 255)
                )
            return CommandResult("", "", 0)
        if key in ("stack init", "config set"):
            return CommandResult("", "", 0)
        if args[0] in ("preview", "up", "refresh", "destroy"):
            self._deliver_events(args)
            if on_output:
                on_output(f"CLI says: {args[0]} done")
            return CommandResult(f"CLI says: {args[0]} done", "", 0)
        if key == "stack output":
            data = PLAIN_OUTPUTS if "--show-secrets" in args else MASKED_OUTPUTS
            return CommandResult(json.dumps(data), "", 0)
        if key == "stack history":
            return CommandResult(history(self.history_changes), "", 0)
        raise AssertionError(f"unexpected pulumi command: {args}")

    def _deliver_events(self, args: list[str]) -> None:
        if "--event-log" not in args:
            return
        target = args[args.index("--event-log") + 1]
        self.event_log_targets.append(target)
        events = [{"sequence": i, "timestamp": 0, **e} for i, e in enumerate(self.events)]
        if target.startswith("tcp://"):
            # What a CLI newer than 3.205 does: stream to the SDK's gRPC server. The call returns
            # only after the server consumed the stream, so every event is handled before run().
            with grpc.insecure_channel(target[len("tcp://") :]) as channel:
                stub = events_pb2_grpc.EventsStub(channel)
                stub.StreamEvents(
                    iter([events_pb2.EventRequest(event=json.dumps(e)) for e in events])
                )
        else:
            # Older CLIs append JSON lines to a file; the cancel event ends the SDK's watcher.
            with open(target, "a", encoding="utf-8") as f:
                for e in [*events, {"sequence": len(events), "timestamp": 0, "cancelEvent": {}}]:
                    f.write(json.dumps(e) + "\n")

    def ops(self) -> list[list[str]]:
        """Command lines with the per-run event-log target replaced by a placeholder."""
        return [
            [LOG if prev == "--event-log" else a for prev, a in zip([""] + c, c)]
            for c in self.calls
        ]


class _NoProcess:
    def __getattr__(self, name):
        raise AssertionError(f"the SDK tried to run a real process (subprocess.{name})")


@pytest.fixture(autouse=True)
def no_real_cli(monkeypatch):
    # Any path that would construct a real PulumiCommand or spawn `pulumi` fails loudly.
    monkeypatch.setattr(sdk_cmd, "subprocess", _NoProcess())
    monkeypatch.setattr(automation.command, "subprocess", _NoProcess())


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: trainstack\nruntime: python\n")
    (tmp_path / "policies").mkdir()
    return tmp_path


def drive(argv: list[str], fake: FakePulumi | None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, pulumi_command=fake, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def cfg(key: str, value: str, secret: bool = False) -> list[str]:
    return [
        "config",
        "set",
        "--path",
        key,
        "--secret" if secret else "--plaintext",
        "--stack",
        "dev",
        "--non-interactive",
        "--",
        value,
    ]


# `pulumi config set KEY --secret` with no value: the CLI reads the value from its stdin.
SECRET_SET = ["config", "set", "--path", "trainstack:grafanaPassword", "--secret", "--stack", "dev"]


def test_preview_selects_stack_sets_config_and_runs_policy_pack(project):
    fake = FakePulumi()
    out_file = project / "out" / "summary.json"
    code, out, err = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--set",
            "nodePools[0].maxSize=4",
            "--set",
            "aws:region=us-west-2",
            "--set",
            "tags.team=ml=infra",
            "--set-secret",
            "grafanaPassword=hunter2",
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )

    assert code == EXIT_OK, err
    assert fake.ops() == [
        ["stack", "select", "--stack", "dev"],
        cfg("trainstack:nodePools[0].maxSize", "4"),
        cfg("aws:region", "us-west-2"),
        cfg("trainstack:tags.team", "ml=infra"),
        SECRET_SET,
        [
            "preview",
            "--policy-pack",
            "policies",
            "--exec-kind",
            "auto.local",
            "--event-log",
            LOG,
            "--stack",
            "dev",
        ],
    ]
    # The secret went in on stdin (one newline, which the CLI strips), in no argument.
    assert fake.stdin == ["hunter2\n"]
    assert not any("hunter2" in a for c in fake.calls for a in c)
    assert fake.event_log_targets[0].startswith("tcp://127.0.0.1:")
    assert "+ create aws:eks/cluster:Cluster cluster" in out
    assert "node-role" not in out  # unchanged resources are not listed
    assert "  create: 1\n  same: 1" in out
    summary = json.loads(out_file.read_text())
    assert summary["operation"] == "preview" and summary["stack"] == "dev"
    assert summary["result"] == "succeeded" and summary["exit_code"] == 0
    assert summary["change_summary"] == {"create": 1, "same": 1}
    assert summary["outputs"] == {}
    assert summary["policy_packs"] == ["policies"]
    assert summary["policy_violations"] == []
    assert summary["config_keys"][-1] == "trainstack:grafanaPassword"
    assert isinstance(summary["duration_seconds"], float)
    assert "hunter2" not in out + err + out_file.read_text()


def test_missing_stack_is_created(project):
    fake = FakePulumi(stack_exists=False)
    code, _, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], fake)
    assert code == EXIT_OK, err
    assert fake.ops()[:3] == [
        ["stack", "select", "--stack", "dev"],
        ["stack", "init", "dev"],
        ["preview", "--exec-kind", "auto.local", "--event-log", LOG, "--stack", "dev"],
    ]


def test_up_prints_masked_outputs_and_writes_summary(project):
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "update", CLUSTER_URN),
            step("resOutputsEvent", "update", CLUSTER_URN),
            {"summaryEvent": {"resourceChanges": {"update": 1}}},
        ],
        history_changes={"update": 1, "same": 41},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "up",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--message",
            "ci run 42",
            "--summary",
            str(out_file),
        ],
        fake,
    )

    assert code == EXIT_OK, err
    assert fake.ops()[1:] == [
        [
            "up",
            "--yes",
            "--skip-preview",
            "--message",
            "ci run 42",
            "--policy-pack",
            "policies",
            "--exec-kind",
            "auto.local",
            "--event-log",
            LOG,
            "--stack",
            "dev",
        ],
        ["stack", "output", "--json", "--stack", "dev"],
        ["stack", "output", "--json", "--show-secrets", "--stack", "dev"],
        [
            "stack",
            "history",
            "--json",
            "--show-secrets",
            "--page-size",
            "1",
            "--page",
            "1",
            "--stack",
            "dev",
        ],
    ]
    assert "~ update aws:eks/cluster:Cluster cluster" in out
    assert "  done update aws:eks/cluster:Cluster cluster" in out
    assert "kubeconfig: [secret]" in out
    assert "clusterName: trainstack-dev" in out
    assert 'pools: ["gpu"]' in out
    summary = json.loads(out_file.read_text())
    # The history entry wins over the summary event: it is the backend's record.
    assert summary["change_summary"] == {"update": 1, "same": 41}
    assert summary["outputs"] == {
        "clusterName": "trainstack-dev",
        "kubeconfig": "[secret]",
        "pools": ["gpu"],
    }
    assert "SECRET-TOKEN" not in out + err + out_file.read_text()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["refresh"],
            [
                "refresh",
                "--skip-preview",
                "--yes",
                "--exec-kind",
                "auto.local",
                "--event-log",
                LOG,
                "--stack",
                "dev",
            ],
        ),
        (
            ["destroy", "--yes"],
            [
                "destroy",
                "--skip-preview",
                "--yes",
                "--exec-kind",
                "auto.local",
                "--event-log",
                LOG,
                "--stack",
                "dev",
            ],
        ),
    ],
)
def test_refresh_and_destroy_command_lines(project, argv, expected):
    fake = FakePulumi(
        events=[{"summaryEvent": {"resourceChanges": {"same": 2}}}], history_changes={"same": 2}
    )
    code, out, err = drive(
        [*argv, "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"], fake
    )
    assert code == EXIT_OK, err
    assert fake.ops()[1] == expected
    assert "--policy-pack is ignored" in err
    if argv[0] == "refresh":  # refresh reports the refreshed outputs, destroy has none left
        assert "kubeconfig: [secret]" in out
    else:
        assert "Outputs:" not in out


def test_cli_progress_mode_streams_cli_output(project):
    fake = FakePulumi()
    code, out, _ = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--progress", "cli"], fake
    )
    assert code == EXIT_OK
    assert "CLI says: preview done" in out
    assert "+ create" not in out


def test_older_cli_uses_event_log_file(project):
    fake = FakePulumi(version="3.200.0")
    code, out, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], fake)
    assert code == EXIT_OK, err
    assert fake.event_log_targets[0].endswith("eventlog.txt")
    assert "+ create aws:eks/cluster:Cluster cluster" in out


def test_operation_failure_exits_1_with_summary(project):
    failure = CommandResult(
        "Updating (dev)\n  aws:eks:Cluster cluster **failed**", "error: update failed", 255
    )
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "create", CLUSTER_URN),
            {
                "diagnosticEvent": {
                    "message": "<{%fg 1%}>AccessDenied: eks:CreateCluster<{%reset%}>\n",
                    "color": "raw",
                    "severity": "error",
                }
            },
            step("resOpFailedEvent", "create", CLUSTER_URN, status=1, steps=1),
        ],
        fail={"up": failure},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        ["up", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)], fake
    )
    assert code == EXIT_FAILED
    assert "error: AccessDenied: eks:CreateCluster" in err
    assert "failed aws:eks/cluster:Cluster cluster" in err
    assert "error: update failed" in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "failed" and summary["exit_code"] == 1
    assert summary["failed_phase"] == "operation"
    assert "update failed" in summary["error"]
    # No stack output / history calls after a failed up.
    assert fake.ops()[-1][0] == "up"


def test_stack_selection_failure_exits_1(project):
    fake = FakePulumi(
        fail={
            "stack select": CommandResult(
                "", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE", 255
            )
        }
    )
    out_file = project / "summary.json"
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)],
        fake,
    )
    assert code == EXIT_FAILED
    assert "PULUMI_CONFIG_PASSPHRASE" in err
    assert json.loads(out_file.read_text())["failed_phase"] == "select"
    assert len(fake.calls) == 1


def test_mandatory_policy_event_exits_3(project):
    fake = FakePulumi(
        events=[*plan_events(), policy("mandatory")],
        fail={"preview": CommandResult("Policy Violations: ...", "", 255)},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_POLICY
    assert (
        "policy [mandatory] trainstack-guardrails/eks-secrets-encryption: "
        "EKS secrets must be encrypted with KMS"
    ) in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "policy-violation" and summary["exit_code"] == 3
    assert summary["policy_violations"] == [
        {
            "pack": "trainstack-guardrails",
            "pack_version": "0.1.0",
            "policy": "eks-secrets-encryption",
            "level": "mandatory",
            "message": "EKS secrets must be encrypted with KMS",
            "urn": CLUSTER_URN,
        }
    ]


def test_mandatory_violation_detected_from_error_text(project):
    # No policy event reached us (e.g. the pack failed to report per resource): the CLI's own
    # rendering of the violation is the fallback.
    text = (
        "Policy Violations:\n    [mandatory]  trainstack-guardrails v0.1.0  "
        "eks-secrets-encryption (aws:eks/cluster:Cluster: cluster)\n"
    )
    fake = FakePulumi(fail={"preview": CommandResult(text, "error: preview failed", 255)})
    code, _, _ = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"],
        fake,
    )
    assert code == EXIT_POLICY


def test_mandatory_violation_found_beyond_the_error_tail_shown(project):
    # Diagnostics after the violation push it out of the 30 lines printed; it still exits 3.
    text = (
        "Policy Violations:\n    [mandatory]  trainstack-guardrails v0.1.0  "
        "eks-secrets-encryption (aws:eks/cluster:Cluster: cluster)\n"
        + "".join(f"    diagnostic line {i}\n" for i in range(60))
    )
    fake = FakePulumi(fail={"preview": CommandResult(text, "error: preview failed", 255)})
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"],
        fake,
    )
    assert code == EXIT_POLICY
    assert "[mandatory]" not in err  # the shown tail does not have it


def test_advisory_violation_is_reported_but_passes(project):
    out_file = project / "summary.json"
    fake = FakePulumi(events=[*plan_events(), policy("advisory")])
    code, out, _ = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_OK
    assert "[advisory] trainstack-guardrails/eks-secrets-encryption" in out
    assert json.loads(out_file.read_text())["policy_violations"][0]["level"] == "advisory"


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


def test_missing_project_dir_exits_2(tmp_path):
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(tmp_path / "absent")], FakePulumi()
    )
    assert code == EXIT_USAGE and "does not exist" in err


def test_missing_cli_exits_1(project):
    # No injected command: the real PulumiCommand is constructed, and the guard stands in for
    # a machine without the CLI.
    code, _, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], None)
    assert code == EXIT_FAILED
    assert "cannot use the Pulumi CLI" in err


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


def test_module_entry_point_reports_usage_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "automation", "preview"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_USAGE
    assert "--stack" in proc.stderr


def test_secret_from_an_environment_variable_is_in_no_command_line(project, monkeypatch):
    monkeypatch.setenv("CI_HF_TOKEN", "hf_live-Token-42")
    fake = FakePulumi()
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "up",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--set-secret-env",
            "hfToken=CI_HF_TOKEN",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_OK, err
    assert [
        "config",
        "set",
        "--path",
        "trainstack:hfToken",
        "--secret",
        "--stack",
        "dev",
    ] in fake.calls
    assert fake.stdin == ["hf_live-Token-42\n"]
    assert not any("hf_live" in a for c in fake.calls for a in c)
    assert "hf_live" not in out + err + out_file.read_text()
    assert json.loads(out_file.read_text())["config_keys"] == ["trainstack:hfToken"]


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


def stand_in_cli(tmp_path: Path, code: int) -> Path:
    """An executable in the CLI's place that records its argv, stdin and marker variable."""
    script = tmp_path / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'stdin': sys.stdin.read(), 'cwd': os.getcwd(),\n"
        "           'marker': os.environ.get('PULUMI_AUTOMATION_API'),\n"
        "           'home': os.environ.get('PULUMI_HOME'),\n"
        "           'path': os.environ['PATH'].split(os.pathsep)[0]},\n"
        f"          open({str(tmp_path / 'seen.json')!r}, 'w'))\n"
        f"print('error: invalid configuration key', file=sys.stderr) if {code} else None\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)
    return script


def test_pulumi_cli_feeds_stdin_to_a_real_process(tmp_path, monkeypatch):
    monkeypatch.setattr(automation.command, "subprocess", subprocess)
    cli = PulumiCLI.__new__(PulumiCLI)  # __init__ would run `pulumi version`
    cli.command = str(stand_in_cli(tmp_path, 0))
    cli.run_with_stdin(
        ["config", "set", "--path", "k", "--secret", "--stack", "dev"],
        str(tmp_path),
        {"PULUMI_HOME": "/ci/pulumi-home"},
        "s3cret-ü\n",
    )
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["argv"] == [
        "--non-interactive",
        "config",
        "set",
        "--path",
        "k",
        "--secret",
        "--stack",
        "dev",
    ]
    assert seen["stdin"] == "s3cret-ü\n" and seen["cwd"] == str(tmp_path)
    assert seen["marker"] == "true" and seen["home"] == "/ci/pulumi-home"
    assert seen["path"] == str(tmp_path)  # an absolute CLI's own directory first, as the SDK does

    cli.command = str(stand_in_cli(tmp_path, 255))
    with pytest.raises(CommandError, match="invalid configuration key"):
        cli.run_with_stdin(["config", "set", "k", "--secret"], str(tmp_path), {}, "x\n")


def test_missing_pulumi_cli_says_how_to_install_it_and_still_writes_the_summary(
    project, tmp_path, monkeypatch
):
    # The real SDK looks for `pulumi` on an empty PATH: no process can start, so nothing real runs.
    monkeypatch.setattr(sdk_cmd, "subprocess", subprocess)
    monkeypatch.setattr(automation.command, "subprocess", subprocess)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out_file = project / "summary.json"
    code, out, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)],
        None,
    )
    assert code == EXIT_FAILED
    assert "no `pulumi` on PATH" in err and "Install it with" in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "failed" and summary["exit_code"] == EXIT_FAILED
    assert summary["failed_phase"] == "cli"
    assert "cannot use the Pulumi CLI" in summary["error"]
