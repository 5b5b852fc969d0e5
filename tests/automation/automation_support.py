"""The fake Pulumi CLI the automation tests drive `python -m automation` through: no CLI, no
backend, no cloud.

The fake stands in for the `pulumi` binary at the seam the SDK offers (PulumiCommand.run) and the
driver's own (PulumiCLI.run_with_stdin, which feeds secrets on stdin and is run against a real
stand-in process in test_automation_command.py), so everything above them -- LocalWorkspace,
Stack, event streaming -- is the real SDK code. It records
every command line and answers with canned output; for operations it also delivers canned engine
events to the `--event-log` target the SDK passed (gRPC for CLIs newer than 3.205, a file before).

Test modules import the fixtures by their function names; pytest knows `project_fixture` as
`project`, so a test's parameter does not shadow an import. `no_real_cli` is autouse: every test
module imports it, so no test can reach a real `pulumi`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import grpc
import pulumi.automation._cmd as sdk_cmd
import pytest
from pulumi.automation import CommandResult
from pulumi.automation.errors import create_command_error
from pulumi.runtime.proto import events_pb2, events_pb2_grpc
from semver import VersionInfo

import automation.command
from automation.cli import main
from automation.command import PulumiCLI

REPO = Path(__file__).resolve().parents[2]
LOG = "<event-log>"
SECRET_KUBECONFIG = "apiVersion: v1 token=SECRET-TOKEN-123"
CLUSTER_URN = "urn:pulumi:dev::trainstack::aws:eks/cluster:Cluster::cluster"
ROLE_URN = "urn:pulumi:dev::trainstack::aws:iam/role:Role::node-role"

MASKED_OUTPUTS = {"clusterName": "trainstack-dev", "kubeconfig": "[secret]", "pools": ["gpu"]}
PLAIN_OUTPUTS = {**MASKED_OUTPUTS, "kubeconfig": SECRET_KUBECONFIG}


def step(kind: str, op: str, urn: str, **extra) -> dict:
    typ = urn.split("::")[2].split("$")[-1]  # the chain's last type is the resource's own
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
            if "--expect-no-changes" in args and self._proposes_changes():
                # What the CLI does then (pulumi/pulumi NoChangesExpectedError): the events
                # are out, the command fails.
                raise create_command_error(
                    CommandResult(
                        "", "error: no changes were expected but changes were proposed", 255
                    )
                )
            if on_output:
                on_output(f"CLI says: {args[0]} done")
            return CommandResult(f"CLI says: {args[0]} done", "", 0)
        if key == "stack output":
            data = PLAIN_OUTPUTS if "--show-secrets" in args else MASKED_OUTPUTS
            return CommandResult(json.dumps(data), "", 0)
        if key == "stack history":
            return CommandResult(history(self.history_changes), "", 0)
        raise AssertionError(f"unexpected pulumi command: {args}")

    def _proposes_changes(self) -> bool:
        counts = [
            e["summaryEvent"].get("resourceChanges", {}) for e in self.events if "summaryEvent" in e
        ]
        return any(n for c in counts for op, n in c.items() if op != "same")

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


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path) -> Path:
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
