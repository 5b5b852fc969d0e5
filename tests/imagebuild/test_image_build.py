"""The ImageBuild dynamic provider (components/image_build.py): pickling, check, diff, and
create/update/delete building through imagebuild.builder against moto."""

from __future__ import annotations

import base64
from pathlib import Path

import boto3
import dill
import pytest
from builder_support import (  # noqa: F401  (fixtures: aws, src)
    BUCKET,
    POLL,
    PROJECT,
    REGION,
    REPO,
    ScriptedCodeBuild,
    aws_fixture,
    ecr_digest,
    scripted,
    src_fixture,
    success_script,
    write_tree,
)
from pulumi.dynamic.dynamic import serialize_provider

from components import image_build
from components.image_build import UNKNOWN, ImageBuildProvider
from imagebuild import builder as image_builder
from imagebuild.builder import Clients, SourceError

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
