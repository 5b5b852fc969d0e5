"""The Dockerfile parser (imagebuild.dockerfile): instructions, continuations, heredocs, stages
with their ARG and ENV scoping."""

from __future__ import annotations

import pytest

from imagebuild.dockerfile import instructions, parse_stages


def test_instructions_join_continuations_and_keep_heredocs():
    text = "FROM x\nRUN a \\\n# dropped\n    b\nRUN <<EOF\n# kept: shell comment\nc\nEOF\nUSER 1\n"
    steps = instructions(text)
    assert [(s.keyword, s.line) for s in steps] == [
        ("FROM", 1),
        ("RUN", 2),
        ("RUN", 5),
        ("USER", 9),
    ]
    assert steps[1].rest.split() == ["a", "b"]
    assert steps[2].rest == "<<EOF\n# kept: shell comment\nc"
    with pytest.raises(ValueError):
        instructions("FROM x\nRUN <<EOF\nnever closed\n")


def test_stages_scope_args_and_env():
    stages = parse_stages(
        "ARG PY=3.12\nFROM python:${PY}-slim AS build\nARG PY\nENV A=$PY B=1\n"
        "FROM build\nARG PY=3.10\n",
        {"PY": "3.11"},
    )
    assert [s.base for s in stages] == ["python:3.11-slim", "build"]
    assert stages[0].name == "build" and stages[0].env == {"A": "3.11", "B": "1"}
    assert stages[1].args == {"PY": "3.11"}  # --build-arg beats a stage default too
