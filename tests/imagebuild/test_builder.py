"""The trainer image build on `pulumi up` (imagebuild/builder.py) against moto, with CodeBuild
scripted by builder_support.ScriptedCodeBuild: reuse of a pushed image, the build, retries of
transient failures, the deadline, a concurrent push, a source changed since planning."""

from __future__ import annotations

from pathlib import Path

import pytest
from builder_support import (  # noqa: F401  (fixtures: aws, src)
    BUCKET,
    POLL,
    PROJECT,
    REGION,
    REPO,
    FakeTime,
    ScriptedCodeBuild,
    aws_fixture,
    ecr_digest,
    push,
    run_build,
    scripted,
    src_fixture,
    state,
    success_script,
    write_tree,
)

from imagebuild import builder as image_builder
from imagebuild.builder import BuildFailed, Clients, SourceError

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
