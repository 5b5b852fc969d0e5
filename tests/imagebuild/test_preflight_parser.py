"""The parser under the preflight (imagebuild.dockerfile): instructions, stages, pip commands,
requirement files, PEP 440 as packaging reads it, and three-valued markers."""

from __future__ import annotations

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from preflight_cases import FACTS, GOOD_REQS, REQS, image

from imagebuild import preflight
from imagebuild.dockerfile import (
    evaluate_marker,
    instructions,
    parse_requirements,
    parse_stages,
    pip_commands,
)
from imagebuild.preflight import analyze


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


def test_pip_commands_read_options_and_interpreters():
    run = (
        "--mount=type=cache,target=/root/.cache/pip apt-get update && "
        "PIP_NO_CACHE_DIR=1 python3.12 -m pip install -U --extra-index-url="
        "https://download.pytorch.org/whl/cu130 -rreq.txt -c c.txt 'numpy<2' ./local "
        "torch==2.13.0+cu130; pip3 --no-cache-dir list; uv pip install --python 3.11 x==1"
    )
    first, second = pip_commands(run, 7)
    assert (first.python, first.upgrade, first.line) == ("3.12", True, 7)
    assert first.extra_index_urls == ["https://download.pytorch.org/whl/cu130"]
    assert (first.requirement_files, first.constraint_files) == (["req.txt"], ["c.txt"])
    assert [str(r) for r in first.requirements] == ["numpy<2", "torch==2.13.0+cu130"]
    assert second.python == "3.11" and [r.name for r in second.requirements] == ["x"]
    assert pip_commands('python -c "import pip; print(1)"') == []


def test_requirements_files():
    parsed = parse_requirements(
        "# top\n-r base.txt\n--extra-index-url https://download.pytorch.org/whl/cu130\n"
        "Torch_Vision[extra] == 0.28.0 \\\n  --hash=sha256:abc  # pinned\n"
        "numpy>=1.26,<3; python_version >= '3.11'\nmy-pkg @ https://x/y.whl\n-e .\n",
        "r.txt",
    )
    assert parsed.includes == [("-r", "base.txt", 2)]
    assert parsed.extra_index_urls == [("https://download.pytorch.org/whl/cu130", 3)]
    tv, np_, pkg = parsed.requirements
    assert (tv.name, tv.display, tv.parsed.extras, tv.exact, tv.line) == (
        "torch-vision",
        "Torch_Vision",
        {"extra"},
        "0.28.0",
        4,
    )
    assert np_.specifier == SpecifierSet(">=1.26,<3")
    assert np_.marker == Marker("python_version >= '3.11'")
    assert np_.unmarked == "numpy>=1.26,<3"  # as written, for findings to quote
    assert pkg.url == "https://x/y.whl" and not pkg.specifier


# The hand-written PEP 440 code this module had before packaging: the cases, as the
# preflight's verdict on a package pinned in two places. (id, lines, its old codes, the right ones)
PEP440_CASES = [
    (
        "2.14.0.dev0 does not satisfy <2.14 (PEP 440: no pre-release of the bound itself)",
        "numpy==2.14.0.dev0\nnumpy<2.14\n",
        ["TS402"],
        ["TS401"],
    ),
    (
        "2.13.0.dev3 does not satisfy <2.13",
        "numpy==2.13.0.dev3\nnumpy<2.13\n",
        ["TS402"],
        ["TS401"],
    ),
    (
        "2.13.0.post1 satisfies >2.13.0rc1 (the bound is a pre-release, not 2.13.0)",
        "numpy==2.13.0.post1\nnumpy>2.13.0rc1\n",
        ["TS401"],
        ["TS402"],
    ),
    (
        "<=2.13.0+cu130 is invalid: a local label only goes with == and !=",
        "numpy<=2.13.0+cu130\n",
        [],
        ["TS404"],
    ),
]


@pytest.mark.parametrize(
    "requirements, old, right", [pytest.param(*c[1:], id=c[0]) for c in PEP440_CASES]
)
def test_pep440_cases_the_hand_written_comparator_got_wrong(requirements, old, right):
    findings = analyze(
        image(), {REQS: GOOD_REQS.replace("numpy>=1.26\n", "") + requirements}, facts=FACTS
    )
    codes = [f.code for f in findings]
    assert codes == right and codes != old, "\n".join(map(str, findings))


def test_a_requirement_pip_refuses_is_an_error_naming_it():
    bad = "torch<=2.13.0+cu130"
    findings = analyze(
        image(install=f"RUN pip install -r /opt/app/requirements.txt '{bad}'"),
        {REQS: GOOD_REQS + "numpy<=2.0+cpu  # also refused\n"},
        facts=FACTS,
    )
    refused = [f for f in findings if f.code == "TS404"]
    assert [(f.severity, f.where) for f in refused] == [
        ("error", "trainer/requirements.txt:5"),
        ("error", "Dockerfile:4"),
    ]
    assert f"pip refuses {bad!r}: Local version label can only be used with" in refused[1].message
    assert "only after == or !=" in refused[1].fix
    # A shell variable is the build's to expand: not a requirement to refuse.
    assert (
        analyze(
            image(install="RUN pip install -r /opt/app/requirements.txt torch==${TORCH_VERSION}"),
            {REQS: GOOD_REQS},
            facts=FACTS,
        )
        == []
    )


def test_markers_are_three_valued():
    env = {
        **preflight.MARKER_ENV,
        "python_version": "3.11",
        "platform_machine": None,
        "python_full_version": None,
    }

    def value(marker: str) -> bool | None:
        return evaluate_marker(Marker(marker), env)

    assert value('python_version < "3.12" and sys_platform == "linux"') is True
    assert value("python_version >= '3.12' or sys_platform == 'win32'") is False
    assert value("platform_machine == 'aarch64'") is None  # unknown, not false
    # False whatever the unknown part says: pip skips the line on this Python.
    assert value("python_version == '3.12' and platform_machine == 'x'") is False
    assert value("python_version == '3.11' or platform_machine == 'x'") is True
    assert (
        value("(python_version == '3.12' and platform_machine == 'x') or '3.1' in python_version")
        is True
    )
    # The patch release is unknown too: 3.11.x may or may not be >= 3.11.4; never 3.12.0.
    assert value("python_full_version >= '3.11.4'") is None
    assert value("python_full_version >= '3.12.0'") is False
    assert value("platform_release >= '6'") is None  # the build host's, not the image's
