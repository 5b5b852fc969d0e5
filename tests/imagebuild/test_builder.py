"""The trainer image build on `pulumi up` (imagebuild/builder.py, source.py, failures.py;
components/image_build.py) against moto's S3, ECR, CloudWatch Logs and CodeBuild.

moto's CodeBuild starts builds (real build IDs, unknown projects rejected) but ignores the source
and environment overrides, and its batch_get_builds reports every build SUCCEEDED at once, with
no phase progression, failure status, phase contexts or log location. `ScriptedCodeBuild` passes
every call through to moto, records start_build's arguments, and only rewrites the fields of
batch_get_builds' answer that moto cannot simulate, from a script per attempt. What the build
itself would do on AWS is simulated too: it writes its log lines to moto's CloudWatch Logs and,
on success, pushes the image to moto's ECR.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import dill
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws
from pulumi.dynamic.dynamic import serialize_provider

from components import image_build
from components.image_build import UNKNOWN, ImageBuildProvider
from imagebuild import builder as image_builder
from imagebuild.builder import BuildFailed, Clients, SourceError
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


@pytest.fixture
def src(tmp_path: Path) -> Path:
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


@pytest.fixture
def aws(monkeypatch):
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


# ------------------------------------------------------------------------------ source, hash


def test_source_files_take_the_build_inputs_only(src: Path):
    write_tree(
        src,
        {
            "trainer/__pycache__/train.cpython-311.pyc": "x",
            "trainer/old.pyc": "x",
            "trainer/checkpoints/step-100/model.pt": "x",
            "trainer/runs/m.jsonl": "x",
        },
    )
    assert image_builder.source_files(src) == BUNDLED


@pytest.mark.parametrize(
    "missing",
    ["trainer/buildspec.yml", "imagebuild/cuda_versions.py", "imagebuild/preflight/image.py"],
)
def test_missing_build_files_are_named(src: Path, missing: str):
    (src / missing).unlink()
    with pytest.raises(SourceError, match=missing):
        image_builder.source_files(src)


# ------------------------------------------------- the real bundle runs the real buildspec

# Buildspec commands that need Docker or AWS (run on CodeBuild only): any shell word `docker` or
# `aws`, as a command or in a command substitution. Everything else runs from the unpacked bundle.
_NEEDS_CLOUD = re.compile(r"(?:^|[\s;|&(`])(?:docker|aws)\s")
# What CodeBuild sets that the buildspec reads (`env:` variables are added from the file itself).
CODEBUILD_ENV = {
    "REPOSITORY_URI": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPO}",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123456789abcdef0123456789abcdef01234567",
    "CODEBUILD_BUILD_SUCCEEDING": "1",
    "CODEBUILD_SRC_DIR": "",
}


def _local_commands(spec: dict) -> list[tuple[str, str]]:
    """(phase, command) of every buildspec command that needs neither Docker nor AWS, in order."""
    return [
        (phase, cmd)
        for phase in ("install", "pre_build", "build", "post_build")
        for cmd in (spec["phases"].get(phase) or {}).get("commands", [])
        if not _NEEDS_CLOUD.search(cmd)
    ]


def _copy_sources(dockerfile_text: str) -> list[str]:
    from imagebuild.dockerfile import parse_dockerfile, split_words

    sources = []
    for keyword, rest in parse_dockerfile(dockerfile_text).steps:
        words = [w for w in split_words(rest) if not w.startswith("--")]
        if keyword in ("COPY", "ADD") and "--from=" not in rest:
            sources += words[:-1]
    return sources


def test_cloud_rule_keeps_local_commands_and_drops_docker_and_aws():
    spec = {
        "phases": {
            "pre_build": {
                "commands": [
                    "python3 -m imagebuild.preflight",
                    'X="${A#*/}"',
                    "echo docker-free",
                    "aws ecr get-login-password | docker login x",
                    "E=$(aws ecr describe-images || true)",
                    "if [ -n a ]; then\n  docker build .\nfi",
                ]
            }
        }
    }
    assert [c for _, c in _local_commands(spec)] == [
        "python3 -m imagebuild.preflight",
        'X="${A#*/}"',
        "echo docker-free",
    ]


def _run_bundle_locally(tmp_path: Path, **codebuild_env: str) -> tuple[Path, str]:
    """The zip `pulumi up` uploads, unpacked as CodeBuild does, runs every buildspec command that
    needs neither Docker nor AWS (the preflight first), in one bash as buildspec 0.2 does.
    Returns the unpacked tree and the build's stdout; a failing command fails the test by name."""
    root = Path(__file__).resolve().parents[2]
    tree = tmp_path / "src"
    with zipfile.ZipFile(io.BytesIO(image_builder.bundle(root))) as zf:
        zf.extractall(tree)
    spec = yaml.safe_load((tree / "trainer" / "buildspec.yml").read_text())
    commands = _local_commands(spec)
    assert any("imagebuild.preflight" in cmd for _, cmd in commands), commands

    # Each command, then its exit code to a file: a failing command is named, not just "1".
    codes = tmp_path / "codes"
    script = "".join(
        f"{cmd}\nprintf '%s %s\\n' {i} $? >> {shlex.quote(str(codes))}\n"
        for i, (_, cmd) in enumerate(commands)
    )
    # `python3` is the interpreter running these tests: its packaging is the version the
    # buildspec's install phase pins (test_preflight_cli checks the pin). PIP_NO_INDEX keeps that pip
    # install offline and honest: it passes because the pinned version is already installed
    # ("Requirement already satisfied"), and fails instead of downloading anything.
    python3 = Path(sys.executable).with_name("python3")
    python3 = python3 if python3.exists() else Path(shutil.which("python3") or sys.executable)
    env = {
        "PATH": f"{python3.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        **{k: str(v) for k, v in spec.get("env", {}).get("variables", {}).items()},
        **CODEBUILD_ENV,
        "CODEBUILD_SRC_DIR": str(tree),
        **codebuild_env,
    }
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    ran = dict(line.split() for line in codes.read_text().splitlines()) if codes.exists() else {}
    assert len(ran) == len(commands), (proc.stdout, proc.stderr)
    failed = [
        f"{commands[int(i)][0]}: {commands[int(i)][1]!r} exited {rc}"
        for i, rc in ran.items()
        if rc != "0"
    ]
    assert not failed, "\n".join(failed) + "\n" + proc.stdout[-2000:] + proc.stderr[-2000:]
    return tree, proc.stdout


def _image_tags(stdout: str) -> list[str]:
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("image tags: ")]
    return line.removeprefix("image tags: ").split()


def test_real_bundle_runs_every_local_buildspec_command(tmp_path: Path):
    tree, stdout = _run_bundle_locally(tmp_path)
    assert f"building {CODEBUILD_ENV['REPOSITORY_URI']}:git-0123456789ab" in stdout
    # A `pulumi up` or nightly build (no webhook trigger) writes its one tag only.
    assert _image_tags(stdout) == ["git-0123456789ab"]

    dockerfile = (tree / "trainer" / "Dockerfile").read_text()
    copied = _copy_sources(dockerfile)
    assert copied and all((tree / src).exists() for src in copied), [
        src for src in copied if not (tree / src).exists()
    ]


# CODEBUILD_WEBHOOK_TRIGGER is `branch/<name>`, `tag/<name>` or `pr/<number>` on webhook builds
# (AWS CodeBuild User Guide, "Environment variables in build environments").
@pytest.mark.parametrize(
    "trigger, release",
    [
        ("tag/v1.2.3", "v1.2.3"),
        ("tag/v1.2.3-rc.1", "v1.2.3-rc.1"),
        ("branch/main", None),
        ("tag/v1.2", None),  # not X.Y.Z
        ("tag/v1.2.3+build.5", None),  # `+` cannot be in an image tag
        ("tag/nightly", None),
    ],
)
def test_a_pushed_release_tag_also_tags_the_image(tmp_path: Path, trigger: str, release):
    _, stdout = _run_bundle_locally(tmp_path, CODEBUILD_WEBHOOK_TRIGGER=trigger)
    commit_tag = "git-0123456789ab"
    assert _image_tags(stdout) == ([commit_tag, release] if release else [commit_tag])


def test_hash_ignores_mtimes_order_and_local_artifacts(src: Path, tmp_path: Path):
    first = image_builder.source_hash(src)
    assert len(first) == 64
    for f in src.rglob("*"):
        os.utime(f, (1, 1))
    # The same tree written in the opposite order, with local artifacts and unbundled files.
    other = write_tree(tmp_path / "other", dict(reversed(list(SOURCE.items()))))
    write_tree(
        other,
        {
            "trainer/__pycache__/a.pyc": "x",
            "trainer/checkpoints/c.pt": "x",
            "README.md": "changed readme\n",
            "notes/todo.txt": "x",
        },
    )
    assert image_builder.source_hash(src) == first == image_builder.source_hash(other)


@pytest.mark.parametrize(
    "change",
    [
        {"trainer/train.py": "def main():\n    return 1\n"},  # one byte of code
        {"trainer/requirements.txt": "numpy\ntorch\n"},
        {".dockerignore": "*\n"},
        {"imagebuild/dockerfile.py": "X = 1\n"},  # an optional preflight module appears
        {"trainer/data/vocab.txt": "a\n"},  # a new file
    ],
)
def test_hash_changes_with_any_build_input(src: Path, change: dict):
    before = image_builder.source_hash(src)
    write_tree(src, change)
    assert image_builder.source_hash(src) != before


def test_hash_changes_when_a_file_is_renamed(src: Path):
    before = image_builder.source_hash(src)
    (src / "trainer" / "train.py").rename(src / "trainer" / "training.py")
    assert image_builder.source_hash(src) != before


def test_bundle_is_deterministic_and_holds_exactly_the_hashed_files(src: Path):
    first = image_builder.bundle(src)
    for f in src.rglob("*"):
        os.utime(f, (2_000_000_000, 2_000_000_000))
    assert image_builder.bundle(src) == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert zf.namelist() == BUNDLED
        assert {i.date_time for i in zf.infolist()} == {image_builder.ZIP_DATE}
        assert zf.read("trainer/train.py") == (src / "trainer/train.py").read_bytes()
        # CodeBuild is pointed at trainer/buildspec.yml; no copy at the root.
        assert "buildspec.yml" not in zf.namelist()
    write_tree(src, {"trainer/train.py": "changed\n"})
    assert image_builder.bundle(src) != first


def test_image_tag_is_the_hash_prefix():
    assert image_builder.image_tag("0123456789abcdef" * 4) == "src-0123456789ab"


# ---------------------------------------------------------------------------- build on `up`


def test_unchanged_source_reuses_the_image_and_starts_no_build(aws, src: Path):
    tag = image_builder.image_tag(image_builder.source_hash(src))
    digest = push(aws.client("ecr"), tag, layer="earlier build")
    clients, codebuild = scripted(aws)
    messages: list[str] = []
    result = run_build(clients, src, FakeTime(), messages)
    assert codebuild.started == []
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    uri = aws.client("ecr").describe_repositories()["repositories"][0]["repositoryUri"]
    assert result == image_builder.BuildResult(
        image=f"{uri}@{digest}",
        digest=digest,
        tag=tag,
        build_id=None,
        source_hash=image_builder.source_hash(src),
        attempts=0,
    )
    assert "not rebuilding" in messages[0]


def test_first_build_uploads_the_bundle_starts_codebuild_and_returns_the_pushed_digest(
    aws, src: Path
):
    hash_ = image_builder.source_hash(src)
    tag = image_builder.image_tag(hash_)
    assert ecr_digest(aws, tag) is None
    clients, codebuild = scripted(aws, success_script())
    fake, messages = FakeTime(), []
    result = run_build(clients, src, fake, messages)

    key = f"sources/{hash_}.zip"
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == image_builder.bundle(src)
    (started,) = codebuild.started
    assert started["projectName"] == PROJECT
    assert started["sourceTypeOverride"] == "S3"
    assert started["sourceLocationOverride"] == f"{BUCKET}/{key}"
    assert started["timeoutInMinutesOverride"] == 30
    env = {v["name"]: v["value"] for v in started["environmentVariablesOverride"]}
    assert env == {"IMAGE_TAG": tag, "SOURCE_HASH": hash_}

    pushed = ecr_digest(aws, tag)
    assert pushed and result.digest == pushed
    assert result.image == f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPO}@{pushed}"
    assert (result.tag, result.source_hash, result.attempts) == (tag, hash_, 1)
    assert result.build_id.startswith(f"{PROJECT}:")
    # Each phase change is reported once, in order, however many polls it lasts.
    phases = [m.split(": ")[1].split(" ")[0] for m in messages if m.startswith(result.build_id)]
    assert phases == ["QUEUED", "PROVISIONING", "BUILD", "COMPLETED"]
    assert fake.sleeps == [POLL] * 4


def test_repository_url_given_by_the_caller_is_used(aws, src: Path):
    clients, _ = scripted(aws, success_script())
    result = run_build(clients, src, FakeTime(), repository_url="example.invalid/trainer")
    assert result.image == f"example.invalid/trainer@{result.digest}"


@pytest.mark.parametrize(
    "failure",
    [
        state(
            "FAILED",
            "COMPLETED",
            failed="BUILD",
            log=[
                "Step 1/12 : FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
                "toomanyrequests: You have reached your pull rate limit.",
                "[Container] Phase complete: BUILD State: FAILED",
            ],
        ),
        state("FAULT", "COMPLETED", failed="PROVISIONING"),
        state(
            "FAILED",
            "COMPLETED",
            failed="DOWNLOAD_SOURCE",
            contexts=[
                {
                    "statusCode": "CLIENT_ERROR",
                    "message": "error while downloading key sources/x.zip",
                }
            ],
        ),
    ],
)
def test_transient_failure_is_retried_with_backoff(aws, src: Path, failure: dict):
    clients, codebuild = scripted(aws, [state(phase="BUILD"), failure], success_script())
    fake, messages = FakeTime(), []
    result = run_build(clients, src, fake, messages)
    assert result.attempts == 2 and len(codebuild.started) == 2
    assert result.build_id == codebuild.real.list_builds()["ids"][-1]
    assert result.digest == ecr_digest(aws, result.tag)
    assert fake.backoffs == [image_builder.BACKOFF_SECONDS]
    assert any("transient" in m for m in messages)


def test_throttled_start_is_retried(aws, src: Path):
    clients, codebuild = scripted(aws, success_script())
    codebuild.refuse_starts = 1
    fake = FakeTime()
    result = run_build(clients, src, fake)
    assert result.attempts == 2 and len(codebuild.started) == 1
    assert fake.backoffs == [image_builder.BACKOFF_SECONDS]


def test_real_failure_raises_with_build_id_phase_and_log_tail(aws, src: Path):
    log = [f"log line {i}" for i in range(60)] + ["AssertionError: selftest: loss did not drop"]
    failure = state(
        "FAILED",
        "COMPLETED",
        failed="BUILD",
        log=log,
        contexts=[
            {
                "statusCode": "COMMAND_EXECUTION_ERROR",
                "message": "Error while executing command: docker run ... Reason: exit status 1",
            }
        ],
    )
    clients, codebuild = scripted(aws, [failure])
    fake = FakeTime()
    with pytest.raises(BuildFailed) as err:
        run_build(clients, src, fake)
    e = err.value
    build_id = codebuild.real.list_builds()["ids"][0]
    msg = str(e)
    assert e.build_id == build_id and build_id in msg
    assert e.phase == "BUILD" and "in phase BUILD" in msg and "COMMAND_EXECUTION_ERROR" in msg
    assert e.log_tail == tuple(log[-40:])
    assert "AssertionError: selftest: loss did not drop" in msg
    assert "log line 21" in msg and "log line 20\n" not in msg  # only the last 40 lines
    assert (e.attempts, e.transient) == (1, False)
    assert len(codebuild.started) == 1 and fake.backoffs == []


def test_no_space_left_is_not_retried_even_beside_transient_noise(aws, src: Path):
    failure = state(
        "FAILED",
        "COMPLETED",
        failed="BUILD",
        log=[
            "Retrying after connection reset by peer",
            "write /var/lib/docker: no space left on device",
        ],
    )
    clients, codebuild = scripted(aws, [failure], success_script())
    with pytest.raises(BuildFailed, match="no space left on device"):
        run_build(clients, src, FakeTime())
    assert len(codebuild.started) == 1


def test_missing_log_says_where_to_look(aws, src: Path):
    clients, codebuild = scripted(aws, [state("FAILED", "COMPLETED", failed="BUILD", logs=False)])
    with pytest.raises(BuildFailed) as err:
        run_build(clients, src, FakeTime())
    stream = codebuild.real.list_builds()["ids"][0].split(":", 1)[1]
    assert "no CloudWatch log recorded" in str(err.value)
    assert f"https://console.aws.amazon.com/cloudwatch/{stream}" in str(err.value)


def test_attempts_exhausted_names_the_attempts(aws, src: Path):
    fault = state(
        "FAULT",
        "COMPLETED",
        failed="PROVISIONING",
        contexts=[
            {"statusCode": "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", "message": "Service Unavailable"}
        ],
    )
    clients, codebuild = scripted(aws, *([[fault]] * 3))
    fake = FakeTime()
    with pytest.raises(BuildFailed, match=r"gave up after 3 attempts") as err:
        run_build(clients, src, fake, max_attempts=3)
    assert err.value.attempts == 3 and err.value.transient
    assert len(codebuild.started) == 3
    assert fake.backoffs == [30.0, 60.0]
    assert ecr_digest(aws, image_builder.image_tag(image_builder.source_hash(src))) is None


def test_build_still_running_at_the_deadline_is_stopped(aws, src: Path):
    clients, codebuild = scripted(aws, [state(phase="BUILD")])
    fake = FakeTime()
    with pytest.raises(BuildFailed, match="after 15 minutes: stopped it"):
        run_build(clients, src, fake, timeout_minutes=5)
    assert codebuild.stopped == codebuild.real.list_builds()["ids"]
    assert fake.now - 1000.0 >= 5 * 60 + image_builder.WAIT_GRACE_SECONDS


def test_a_concurrent_push_of_the_same_source_counts_as_success(aws, src: Path):
    """An interrupted `up` run again: the first build pushes the tag, ours fails on it."""
    tag = image_builder.image_tag(image_builder.source_hash(src))

    class PushedMeanwhile(ScriptedCodeBuild):
        def _apply(self, build):
            build = super()._apply(build)
            if build["buildStatus"] == "FAILED" and not image_builder.find_existing(
                self.ecr, REPO, tag
            ):
                push(self.ecr, tag, layer="the other build")
            return build

    ecr, logs = aws.client("ecr"), aws.client("logs")
    codebuild = PushedMeanwhile(
        aws.client("codebuild"),
        ecr,
        logs,
        [
            [
                state(
                    "FAILED",
                    "COMPLETED",
                    failed="BUILD",
                    log=["tag invalid: the image tag already exists"],
                )
            ]
        ],
    )
    clients = Clients(s3=aws.client("s3"), ecr=ecr, codebuild=codebuild, logs=logs)
    result = run_build(clients, src, FakeTime())
    assert result.digest == ecr_digest(aws, tag) and result.attempts == 1


def test_changed_source_since_planning_is_refused(aws, src: Path):
    planned = image_builder.source_hash(src)
    write_tree(src, {"trainer/train.py": "edited during up\n"})
    clients, codebuild = scripted(aws, success_script())
    with pytest.raises(SourceError, match="changed while `pulumi up` ran"):
        run_build(clients, src, FakeTime(), expected_hash=planned)
    assert codebuild.started == []


@pytest.mark.parametrize(
    "build, tail, transient",
    [
        ({"buildStatus": "FAULT"}, (), True),
        (
            {
                "buildStatus": "FAILED",
                "phases": [
                    {
                        "phaseType": "BUILD",
                        "phaseStatus": "FAILED",
                        "contexts": [{"message": "RequestLimitExceeded"}],
                    }
                ],
            },
            (),
            True,
        ),
        ({"buildStatus": "FAILED"}, ("dial tcp: i/o timeout",), True),
        ({"buildStatus": "FAILED"}, ("net/http: TLS handshake timeout",), True),
        ({"buildStatus": "TIMED_OUT"}, ("ThrottlingException: Rate exceeded",), True),
        ({"buildStatus": "FAILED"}, ("ModuleNotFoundError: No module named 'trainer.x'",), False),
        ({"buildStatus": "TIMED_OUT"}, ("step 900/1000",), False),
        ({"buildStatus": "FAILED"}, ("i/o timeout", "no space left on device"), False),
    ],
)
def test_transient_or_real(build: dict, tail: tuple, transient: bool):
    assert image_builder.is_transient(build, tail) is transient


# ------------------------------------------------------------------------- dynamic provider


def props(src: Path, **overrides) -> dict:
    base = {
        "project_name": PROJECT,
        "bucket": BUCKET,
        "repository_name": REPO,
        "repository_url": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPO}",
        "region": REGION,
        "source_root": str(src),
        "source_hash": image_builder.source_hash(src),
        "max_attempts": 3.0,
        "timeout_minutes": 60.0,
        "image": None,
        "digest": None,
        "tag": None,
        "build_id": None,
        "__provider": "serialized",
    }
    return {**base, **overrides}


@pytest.fixture
def provider(aws, monkeypatch):
    """The provider with its boto3 clients scripted and its sleeps recorded, not waited."""
    made: list[ScriptedCodeBuild] = []
    slept: list[float] = []

    def clients(region: str) -> Clients:
        assert region == REGION
        c, codebuild = scripted(boto3.session.Session(region_name=region), success_script())
        made.append(codebuild)
        return c

    monkeypatch.setattr(ImageBuildProvider, "_clients", staticmethod(clients))
    # build() looks time.sleep up per call: the provider passes no sleep of its own.
    monkeypatch.setattr(image_builder.time, "sleep", slept.append)
    p = ImageBuildProvider()
    p.codebuilds, p.slept = made, slept
    return p


def test_provider_pickles_as_a_reference_to_its_class():
    blob = serialize_provider(ImageBuildProvider())
    restored = dill.loads(base64.b64decode(blob))
    assert type(restored) is ImageBuildProvider and vars(restored) == {}
    assert len(blob) < 200  # no captured clients, sessions or module state


def test_provider_check_validates_and_skips_unknowns(src: Path):
    p = ImageBuildProvider()
    assert p.check({}, props(src)).failures == []
    bad = props(
        src,
        source_root="relative/path",
        source_hash="abc",
        timeout_minutes=3.0,
        max_attempts=2.5,
        repository_url="docker.io/trainer",
        bucket="",
    )
    failed = {f.property: f.reason for f in p.check({}, bad).failures}
    assert set(failed) == {
        "source_root",
        "source_hash",
        "timeout_minutes",
        "max_attempts",
        "repository_url",
        "bucket",
    }
    assert "absolute" in failed["source_root"] and "[5, 2160]" in failed["timeout_minutes"]
    preview = props(src, project_name=UNKNOWN, bucket=UNKNOWN, repository_url=UNKNOWN)
    assert p.check({}, preview).failures == []
    missing = {k: v for k, v in props(src).items() if k != "region"}
    assert [f.property for f in p.check({}, missing).failures] == ["region"]


def test_provider_diff_rebuilds_on_source_and_replaces_on_repository(src: Path):
    p = ImageBuildProvider()
    olds = {**props(src), "image": "x@sha256:1", "digest": "sha256:1", "tag": "src-1"}
    same = p.diff("id", olds, props(src, bucket="another-bucket", timeout_minutes=90.0))
    assert not same.changes
    source = p.diff("id", olds, props(src, source_hash="f" * 64))
    assert source.changes and not source.replaces
    repo = p.diff(
        "id",
        olds,
        props(
            src,
            repository_name="other/trainer",
            repository_url="123456789012.dkr.ecr.us-west-2.amazonaws.com/other/trainer",
        ),
    )
    assert repo.changes and set(repo.replaces) == {"repository_name", "repository_url"}
    unknown = p.diff("id", olds, props(src, repository_url=UNKNOWN))
    assert unknown.changes and unknown.replaces == ["repository_url"]


def test_provider_create_builds_and_reports_progress(provider, src: Path, aws, capsys):
    result = provider.create(props(src))
    outs = result.outs
    assert provider.codebuilds[0].started  # a build ran
    assert provider.slept == [POLL] * 4  # polled between phases, without waiting
    assert outs["digest"] == ecr_digest(aws, outs["tag"])
    assert outs["image"] == f"{props(src)['repository_url']}@{outs['digest']}"
    assert outs["tag"] == image_builder.image_tag(props(src)["source_hash"])
    assert outs["build_id"].startswith(f"{PROJECT}:")
    assert outs["source_hash"] == props(src)["source_hash"]
    assert outs["project_name"] == PROJECT and "__provider" not in outs
    assert result.id == f"{REPO}@{outs['digest']}"
    err = capsys.readouterr().err
    assert "trainer image: " in err and ": BUILD (" in err and ": COMPLETED (" in err


def test_provider_update_builds_the_new_source_only(provider, src: Path, aws):
    first = provider.create(props(src)).outs
    same = provider.update("id", first, props(src)).outs
    assert same["digest"] == first["digest"] and same["build_id"] is None
    assert len(provider.codebuilds) == 2 and not provider.codebuilds[1].started
    write_tree(src, {"trainer/train.py": "def main():\n    return 2\n"})
    changed = provider.update("id", first, props(src)).outs
    assert provider.codebuilds[2].started
    assert changed["tag"] != first["tag"] and changed["digest"] != first["digest"]
    assert changed["digest"] == ecr_digest(aws, changed["tag"])


def test_provider_refuses_a_source_edited_after_planning(provider, src: Path):
    planned = props(src)
    write_tree(src, {"trainer/train.py": "edited after preview\n"})
    with pytest.raises(SourceError, match="changed while"):
        provider.create(planned)
    assert not provider.codebuilds[0].started


def test_provider_delete_keeps_the_image(provider, src: Path, aws):
    outs = provider.create(props(src)).outs
    assert provider.delete(f"{REPO}@{outs['digest']}", outs) is None
    assert ecr_digest(aws, outs["tag"]) == outs["digest"]


def test_image_build_declares_its_outputs():
    for name in image_build.OUTPUTS:
        assert name in image_build.ImageBuild.__annotations__
