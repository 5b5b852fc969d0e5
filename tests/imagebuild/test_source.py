"""Which files make the trainer image build and how they are hashed, bundled and tagged
(imagebuild/source.py)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from builder_support import (
    BUNDLED,
    SOURCE,
    src_fixture,  # noqa: F401  (fixtures: src)
    write_tree,
)

from imagebuild import builder as image_builder
from imagebuild.builder import SourceError

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


def test_the_bundle_carries_what_the_dockerfile_copies():
    """Each top-level directory the Dockerfile COPYs is hashed and bundled: the watcher's code
    changing must change the image tag, and CodeBuild must receive it."""
    import re

    from imagebuild import source

    root = Path(__file__).resolve().parents[2]
    copied = re.findall(r"^COPY (\w+)/ ", (root / "trainer/Dockerfile").read_text(), re.M)
    assert "jobwatch" in copied
    files = source.source_files(root)
    for top in copied:
        assert top in source.SOURCE_PATHS
        assert any(f.startswith(f"{top}/") and f.endswith(".py") for f in files), top
