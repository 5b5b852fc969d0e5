"""Build the trainer image in CodeBuild from the local source, once per source hash.

`pulumi up` (components/image_build.py) calls `build()`: the trainer's source is hashed, and the
image is tagged `src-<hash[:12]>`. ECR tags are immutable, so a tag already present is this exact
source, already built and self-tested: nothing is built. Otherwise the source is zipped to the
build bucket, the CodeBuild project runs `trainer/buildspec.yml` on it, and the pushed digest is
returned. Failures the build cannot be blamed for (registry rate limits, throttling, network
flakes, CodeBuild faults) are retried; a real failure raises `BuildFailed` with the log tail.

boto3 only: this module runs in the dynamic provider's process and in tests, never imports pulumi.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

# The source bundle and the failure reading live in their own modules; callers and tests keep
# reaching them through this one (`image_builder.source_hash`, `image_builder.BuildFailed`).
from .failures import (
    BuildFailed,
    error_code,
    failed_phase,
    failure_message,
    is_transient,
    log_tail,
)
from .source import (  # noqa: F401
    ZIP_DATE,
    SourceError,
    bundle,
    image_tag,
    snapshot,
    snapshot_hash,
    snapshot_zip,
    source_files,
    source_hash,
)

SOURCE_PREFIX = "sources/"

POLL_SECONDS = 15.0
# Our wait outlasts CodeBuild's own timeout by this much: CodeBuild normally reports TIMED_OUT
# itself (with its logs), and a build may queue this long before its own timeout starts.
WAIT_GRACE_SECONDS = 600.0
BACKOFF_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 300.0

# start_build refused for load, not for anything wrong with the request.
TRANSIENT_START_ERRORS = frozenset(
    {
        "ThrottlingException",
        "AccountLimitExceededException",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
    }
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    image: str  # <repository url>@sha256:<digest>
    digest: str  # sha256:<hex>
    tag: str  # src-<hash[:12]>
    build_id: str | None  # None when the tag already existed and nothing was built
    source_hash: str
    attempts: int  # attempts made, refused starts included (0: reused, nothing built)


@dataclass(frozen=True)
class Clients:
    s3: Any
    ecr: Any
    codebuild: Any
    logs: Any

    @classmethod
    def from_session(cls, session: Any) -> Clients:
        return cls(
            s3=session.client("s3"),
            ecr=session.client("ecr"),
            codebuild=session.client("codebuild"),
            logs=session.client("logs"),
        )


# ------------------------------------------------------------------------------------- ECR


def find_existing(ecr: Any, repository: str, tag: str) -> str | None:
    """Digest of `repository:tag`, or None if no image carries that tag."""
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        if error_code(exc) == "ImageNotFoundException":
            return None
        raise
    details = found.get("imageDetails") or []
    return details[0]["imageDigest"] if details else None


def lookup_repository_url(ecr: Any, repository: str) -> str:
    repos = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    return repos[0]["repositoryUri"]


# ------------------------------------------------------------------------------------ build


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    build: dict
    transient: bool = False
    tail: tuple[str, ...] = ()
    where: str = ""


def _upload(s3: Any, bucket: str, hash_: str, data: bytes) -> str:
    key = f"{SOURCE_PREFIX}{hash_}.zip"
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/zip")
    return key


def _start(
    codebuild: Any, project: str, location: str, tag: str, hash_: str, timeout_minutes: int
) -> dict | None:
    """The started build, or None if CodeBuild refused for load (retry later)."""
    env = [
        {"name": "IMAGE_TAG", "value": tag, "type": "PLAINTEXT"},
        {"name": "SOURCE_HASH", "value": hash_, "type": "PLAINTEXT"},
    ]
    try:
        return codebuild.start_build(
            projectName=project,
            sourceTypeOverride="S3",
            sourceLocationOverride=location,
            environmentVariablesOverride=env,
            timeoutInMinutesOverride=timeout_minutes,
        )["build"]
    except ClientError as exc:
        if error_code(exc) in TRANSIENT_START_ERRORS:
            return None
        raise


def _describe_phase(build: dict, started: float, now: float) -> str:
    minutes, seconds = divmod(int(now - started), 60)
    return f"{build.get('id')}: {build.get('currentPhase')} ({minutes}m{seconds:02d}s)"


def _wait(
    clients: Clients,
    build: dict,
    *,
    wait_seconds: float,
    poll_seconds: float,
    progress: Progress,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict:
    """Poll until the build leaves IN_PROGRESS; stop it and raise at the deadline."""
    build_id = build["id"]
    started = clock()
    deadline = started + wait_seconds
    last_phase = None
    while True:
        builds = clients.codebuild.batch_get_builds(ids=[build_id])["builds"]
        build = builds[0] if builds else build
        if build.get("currentPhase") != last_phase:
            last_phase = build.get("currentPhase")
            progress(_describe_phase(build, started, clock()))
        if build.get("buildStatus") != "IN_PROGRESS":
            return build
        if clock() >= deadline:
            clients.codebuild.stop_build(id=build_id)
            tail, where = log_tail(clients.logs, build)
            raise BuildFailed(
                f"trainer image build {build_id} still {build.get('currentPhase')} after "
                f"{wait_seconds / 60:.0f} minutes: stopped it\n"
                + ("\n".join(tail) if tail else where),
                build_id=build_id,
                phase=build.get("currentPhase"),
                log_tail=tail,
            )
        sleep(poll_seconds)


def _attempt(
    clients: Clients,
    project: str,
    location: str,
    tag: str,
    hash_: str,
    timeout_minutes: int,
    progress: Progress,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    poll_seconds: float,
) -> _Attempt:
    build = _start(clients.codebuild, project, location, tag, hash_, timeout_minutes)
    if build is None:
        progress("CodeBuild refused to start a build for now (throttled or at its limit)")
        return _Attempt(ok=False, build={}, transient=True, where="start_build throttled")
    progress(f"started {build['id']}")
    build = _wait(
        clients,
        build,
        wait_seconds=timeout_minutes * 60 + WAIT_GRACE_SECONDS,
        poll_seconds=poll_seconds,
        progress=progress,
        sleep=sleep,
        clock=clock,
    )
    if build.get("buildStatus") == "SUCCEEDED":
        return _Attempt(ok=True, build=build)
    tail, where = log_tail(clients.logs, build)
    return _Attempt(
        ok=False, build=build, transient=is_transient(build, tail), tail=tail, where=where
    )


def _backoff(attempt: int) -> float:
    return min(BACKOFF_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)


def _as_clients(session_or_clients: Any) -> Clients:
    if isinstance(session_or_clients, Clients):
        return session_or_clients
    return Clients.from_session(session_or_clients)


def _result(
    clients: Clients,
    repository: str,
    url: str | None,
    digest: str,
    tag: str,
    build_id: str | None,
    hash_: str,
    attempts: int,
) -> BuildResult:
    url = url or lookup_repository_url(clients.ecr, repository)
    return BuildResult(
        image=f"{url}@{digest}",
        digest=digest,
        tag=tag,
        build_id=build_id,
        source_hash=hash_,
        attempts=attempts,
    )


def _retry_loop(
    clients: Clients,
    *,
    project: str,
    location: str,
    repository: str,
    url: str | None,
    tag: str,
    hash_: str,
    max_attempts: int,
    timeout_minutes: int,
    say: Progress,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    poll_seconds: float,
) -> BuildResult:
    for attempt in range(1, max_attempts + 1):
        say(f"attempt {attempt}/{max_attempts}")
        outcome = _attempt(
            clients, project, location, tag, hash_, timeout_minutes, say, sleep, clock, poll_seconds
        )
        build_id = outcome.build.get("id")
        # Also after a failure: a concurrent build of the same source (an interrupted `up`
        # run again) may have pushed the tag first, failing our push as the tag is immutable.
        digest = find_existing(clients.ecr, repository, tag)
        if digest:
            return _result(clients, repository, url, digest, tag, build_id, hash_, attempt)
        if outcome.ok:
            raise BuildFailed(
                f"trainer image build {build_id} SUCCEEDED but ECR has no image tagged {tag} "
                f"in {repository}: check the buildspec's push step",
                build_id=build_id,
                attempts=attempt,
            )
        if not outcome.transient or attempt == max_attempts:
            phase = failed_phase(outcome.build)[0] if outcome.build else None
            raise BuildFailed(
                failure_message(
                    outcome.build, outcome.tail, outcome.where, attempt, outcome.transient
                ),
                build_id=build_id,
                phase=phase,
                attempts=attempt,
                transient=outcome.transient,
                log_tail=outcome.tail,
            )
        delay = _backoff(attempt)
        say(
            f"build {build_id or '(not started)'} failed for a transient cause; "
            f"retrying in {delay:.0f}s"
        )
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def build(
    session_or_clients: Any,
    project: str,
    bucket: str,
    repository: str,
    root: str | Path,
    max_attempts: int = 3,
    timeout_minutes: int = 60,
    progress: Progress | None = None,
    *,
    repository_url: str | None = None,
    expected_hash: str | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> BuildResult:
    """The image of the source under `root`, built by `project` unless ECR already has it.

    `session_or_clients`: a boto3 Session for the stack's region, or `Clients`. `progress`
    receives one line per step and per build phase change. `expected_hash`: the hash the caller
    planned with; the build refuses to run if the source changed since. `sleep` and `clock`
    default to `time.sleep` and `time.monotonic`, looked up per call so tests can replace them.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    say = progress or (lambda _msg: None)
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    clients = _as_clients(session_or_clients)
    files = snapshot(Path(root))
    hash_ = snapshot_hash(files)
    if expected_hash is not None and hash_ != expected_hash:
        raise SourceError(
            f"the trainer source under {root} changed while `pulumi up` ran (planned "
            f"{expected_hash[:12]}, found {hash_[:12]}): run `pulumi up` again"
        )
    tag = image_tag(hash_)

    existing = find_existing(clients.ecr, repository, tag)
    if existing:
        say(f"{repository}:{tag} already in ECR ({existing}): source unchanged, not rebuilding")
        return _result(clients, repository, repository_url, existing, tag, None, hash_, 0)

    key = _upload(clients.s3, bucket, hash_, snapshot_zip(files))
    say(f"uploaded the source to s3://{bucket}/{key}; building {repository}:{tag}")
    return _retry_loop(
        clients,
        project=project,
        location=f"{bucket}/{key}",
        repository=repository,
        url=repository_url,
        tag=tag,
        hash_=hash_,
        max_attempts=max_attempts,
        timeout_minutes=timeout_minutes,
        say=say,
        sleep=sleep,
        clock=clock,
        poll_seconds=poll_seconds,
    )
