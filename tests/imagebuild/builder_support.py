"""Shared fixtures and helpers of the trainer image build tests (imagebuild/builder.py, source.py,
failures.py; components/image_build.py) against moto's S3, ECR, CloudWatch Logs and CodeBuild.

moto's CodeBuild starts builds (real build IDs, unknown projects rejected) but ignores the source
and environment overrides, and its batch_get_builds reports every build SUCCEEDED at once, with
no phase progression, failure status, phase contexts or log location. `ScriptedCodeBuild` passes
every call through to moto, records start_build's arguments, and only rewrites the fields of
batch_get_builds' answer that moto cannot simulate, from a script per attempt. What the build
itself would do on AWS is simulated too: it writes its log lines to moto's CloudWatch Logs and,
on success, pushes the image to moto's ECR.

Test modules import the fixtures by their function names (`src_fixture`, `aws_fixture`); pytest
knows them as `src` and `aws`, so a test's parameter does not shadow an import.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from imagebuild import builder as image_builder
from imagebuild.builder import Clients
from imagebuild.preflight import RUNTIME_FILES as PREFLIGHT_FILES

REGION = "us-west-2"
PROJECT = "trainstack-dev-trainer"
BUCKET = "trainstack-dev-trainer-src"
REPO = "trainstack-dev/trainer"
LOG_GROUP = f"/aws/codebuild/{PROJECT}"
POLL = image_builder.POLL_SECONDS

SOURCE = {
    ".dockerignore": "*\n!trainer/\n",
    "trainer/Dockerfile": "FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime\n",
    "trainer/buildspec.yml": "version: 0.2\n",
    "trainer/__init__.py": "",
    "trainer/train.py": "def main():\n    return 0\n",
    "trainer/requirements.txt": "numpy\n",
    # What the preflight needs in CodeBuild (imagebuild.preflight.RUNTIME_FILES).
    **{path: "" for path in PREFLIGHT_FILES},
    # Not part of the build: never bundled, never hashed.
    "README.md": "readme\n",
    "tests/test_x.py": "def test(): pass\n",
    "trainstack/cli.py": "import pulumi\n",
    "imagebuild/builder.py": "import boto3\n",  # runs in `pulumi up`, not in CodeBuild
}
BUNDLED = sorted(
    k
    for k in SOURCE
    if k.startswith(("trainer/", ".dockerignore", "imagebuild/")) and k != "imagebuild/builder.py"
)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(name="src")
def src_fixture(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src", SOURCE)


# ----------------------------------------------------------------------------- moto fixtures


class FakeTime:
    """Clock and sleep for the builder: sleeping advances the clock, nothing waits."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    @property
    def backoffs(self) -> list[float]:
        return [s for s in self.sleeps if s != POLL]


def state(
    status: str = "IN_PROGRESS",
    phase: str = "BUILD",
    *,
    failed: str | None = None,
    contexts: list[dict] | None = None,
    log: list[str] | None = None,
    logs: bool = True,
) -> dict:
    """One answer of batch_get_builds for the current build, in a script."""
    return {
        "status": status,
        "phase": phase,
        "failed": failed,
        "contexts": contexts or [],
        "log": log,
        "logs": logs,
    }


def success_script() -> list[dict]:
    return [
        state(phase="QUEUED"),
        state(phase="PROVISIONING"),
        state(phase="BUILD"),
        state(phase="BUILD"),
        state("SUCCEEDED", "COMPLETED"),
    ]


class ScriptedCodeBuild:
    """moto's CodeBuild client, with batch_get_builds' status fields taken from a script."""

    def __init__(self, real, ecr, logs, scripts: list[list[dict]]):
        self.real, self.ecr, self.logs = real, ecr, logs
        self.scripts = list(scripts)
        self.started: list[dict] = []
        self.stopped: list[str] = []
        self.refuse_starts = 0  # start_build raises ThrottlingException this many times
        self._steps: dict[str, list[dict]] = {}
        self._env: dict[str, dict[str, str]] = {}

    def start_build(self, **kwargs):
        if self.refuse_starts:
            self.refuse_starts -= 1
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "StartBuild")
        self.started.append(kwargs)
        build = self.real.start_build(**kwargs)["build"]
        self._steps[build["id"]] = list(self.scripts.pop(0))
        self._env[build["id"]] = {
            v["name"]: v["value"] for v in kwargs.get("environmentVariablesOverride", [])
        }
        return {"build": build}

    def stop_build(self, id):
        self.stopped.append(id)
        return self.real.stop_build(id=id)

    def batch_get_builds(self, ids):
        builds = self.real.batch_get_builds(ids=ids)["builds"]
        return {"builds": [self._apply(b) for b in builds]}

    def _apply(self, build: dict) -> dict:
        steps = self._steps[build["id"]]
        step = steps.pop(0) if len(steps) > 1 else steps[0]  # the last state repeats
        stream = build["id"].split(":", 1)[1]
        build.update(buildStatus=step["status"], currentPhase=step["phase"])
        build["phases"] = [
            {"phaseType": p, "phaseStatus": "SUCCEEDED"}
            for p in ("SUBMITTED", "QUEUED", "PROVISIONING")
        ]
        if step["failed"]:
            build["phases"].append(
                {
                    "phaseType": step["failed"],
                    "phaseStatus": step["status"],
                    "contexts": step["contexts"],
                }
            )
        build["logs"] = {"deepLink": f"https://console.aws.amazon.com/cloudwatch/{stream}"}
        if step["logs"]:
            build["logs"].update(groupName=LOG_GROUP, streamName=stream)
        if step["log"]:
            self._write_log(stream, step["log"])
            step["log"] = None
        if step["status"] == "SUCCEEDED":
            self._push(build["id"])
        return build

    def _write_log(self, stream: str, lines: list[str]) -> None:
        try:
            self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        # moto drops events older than CloudWatch accepts: stamp them now.
        now = int(time.time() * 1000)
        self.logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
        )

    def _push(self, build_id: str) -> None:
        """What the buildspec does after a passing selftest: push IMAGE_TAG."""
        tag = self._env[build_id]["IMAGE_TAG"]
        if image_builder.find_existing(self.ecr, REPO, tag):
            return
        push(self.ecr, tag, layer=self._env[build_id]["SOURCE_HASH"])


def push(ecr, tag: str, layer: str) -> str:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "0" * 64},
        "layers": [{"digest": "sha256:" + hashlib.sha256(layer.encode()).hexdigest()}],
    }
    image = ecr.put_image(repositoryName=REPO, imageManifest=json.dumps(manifest), imageTag=tag)
    return image["image"]["imageId"]["imageDigest"]


@pytest.fixture(name="aws")
def aws_fixture(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3, ecr, logs, cb = (session.client(n) for n in ("s3", "ecr", "logs", "codebuild"))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        ecr.create_repository(repositoryName=REPO, imageTagMutability="IMMUTABLE")
        logs.create_log_group(logGroupName=LOG_GROUP)
        cb.create_project(
            name=PROJECT,
            source={
                "type": "S3",
                "location": f"{BUCKET}/sources/",
                "buildspec": "trainer/buildspec.yml",
            },
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "computeType": "BUILD_GENERAL1_LARGE",
                "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                "privilegedMode": True,
            },
            serviceRole="arn:aws:iam::123456789012:role/trainstack-build",
        )
        yield session


def scripted(session, *scripts: list[dict]) -> tuple[Clients, ScriptedCodeBuild]:
    ecr, logs = session.client("ecr"), session.client("logs")
    codebuild = ScriptedCodeBuild(session.client("codebuild"), ecr, logs, list(scripts))
    return Clients(s3=session.client("s3"), ecr=ecr, codebuild=codebuild, logs=logs), codebuild


def run_build(
    clients: Clients, root: Path, fake: FakeTime, messages: list[str] | None = None, **kwargs
):
    kwargs.setdefault("max_attempts", 3)
    kwargs.setdefault("timeout_minutes", 30)
    return image_builder.build(
        clients,
        PROJECT,
        BUCKET,
        REPO,
        root,
        sleep=fake.sleep,
        clock=fake.clock,
        progress=None if messages is None else messages.append,
        **kwargs,
    )


def ecr_digest(session, tag: str) -> str:
    return image_builder.find_existing(session.client("ecr"), REPO, tag)
