"""The Dockerfile preflight (imagebuild.preflight) on realistic image definitions, good and bad,
the repository's own image and the CLI.

The scenarios run against FACTS, a copy of today's components/versions.py values, so they test the
analyser's logic and keep passing when the real pins move; test_facts_are_read_from_versions_py
ties the analyser's defaults to versions.py itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import packaging
import pytest
import yaml

from components import versions
from imagebuild import preflight
from imagebuild.preflight import Facts, analyze

ROOT = Path(__file__).resolve().parents[1]
FACTS = Facts(
    driver_max_cuda="13.0",
    torch_cuda_builds={
        "2.12": ("12.6", "13.0", "13.2"),
        "2.13": ("12.6", "13.0", "13.2"),
        "2.14": ("12.6", "13.0", "13.2"),
    },
)
BASE = "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"
REQS = "trainer/requirements.txt"
GOOD_REQS = "torch==2.13.0\nnumpy>=1.26\npydantic>=2.10,<3\ndatasets>=3,<6\n"


def image(
    base: str = BASE,
    install: str = "RUN python -m pip install --no-cache-dir -r /opt/app/requirements.txt",
    head: str = "",
) -> str:
    """A trainer-like Dockerfile: base, requirements copied in, pip, source, non-root user."""
    return dedent(f"""\
        # syntax=docker/dockerfile:1
        {head}FROM {base}
        COPY trainer/requirements.txt /opt/app/requirements.txt
        {install}
        COPY trainer/ /opt/app/trainer/
        USER 1000
        CMD ["python", "-m", "trainer"]
        """)


ARGS_DOCKERFILE = dedent("""\
    ARG TORCH_VERSION=2.13.0
    ARG CUDA_VERSION=13.0
    FROM pytorch/pytorch:${TORCH_VERSION}-cuda${CUDA_VERSION}-cudnn9-runtime
    ARG TORCH_VERSION
    ARG CUDA_VERSION
    COPY trainer/requirements.txt /opt/app/requirements.txt
    RUN --mount=type=cache,target=/root/.cache/pip \\
        python -m pip install \\
            # comment lines inside a continuation are dropped, as Docker does
            -r /opt/app/requirements.txt
    """)

NVIDIA_2404 = dedent("""\
    FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
    RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip \\
        && rm -rf /var/lib/apt/lists/*
    COPY trainer/requirements.txt /tmp/requirements.txt
    RUN python3 -m pip install --break-system-packages -r /tmp/requirements.txt
    """)

WHEEL_BUILDER = dedent("""\
    FROM python:3.12-slim AS wheels
    COPY trainer/requirements.txt /src/requirements.txt
    RUN pip wheel --wheel-dir /wheels -r /src/requirements.txt

    FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu22.04
    RUN apt-get update && apt-get install -y python3 python3-pip
    COPY --from=wheels /wheels /wheels
    COPY trainer/requirements.txt /tmp/requirements.txt
    RUN pip3 install --no-index --find-links /wheels -r /tmp/requirements.txt
    """)

CU130 = "--extra-index-url https://download.pytorch.org/whl/cu130\ntorch==2.13.0+cu130\n"

# (id, Dockerfile, {file: text}, expected codes in order, {code: text its fix must contain})
SCENARIOS = [
    ("good: ARG-built pytorch tag, pinned torch", ARGS_DOCKERFILE, {REQS: GOOD_REQS}, [], {}),
    (
        "good: nvidia/cuda + apt python + cu130 wheels",
        NVIDIA_2404,
        {REQS: CU130 + "numpy>=2\n"},
        [],
        {},
    ),
    (
        "good: python markers pick one numpy per Python",
        image(),
        {
            REQS: GOOD_REQS.replace(
                "numpy>=1.26\n",
                "numpy==1.26.4; python_version < '3.12'\nnumpy==2.1.0; python_version >= '3.12'\n",
            )
        },
        [],
        {},
    ),
    (
        "latest base",
        image("pytorch/pytorch:latest"),
        {REQS: GOOD_REQS},
        ["TS102"],
        {"TS102": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"},
    ),
    (
        "untagged base, fix follows the torch pin",
        image("pytorch/pytorch"),
        {REQS: "torch==2.12.0\n"},
        ["TS101"],
        {"TS101": "pytorch/pytorch:2.12.0-cuda13.0-cudnn9-runtime"},
    ),
    (
        "torch pin differs from the base's torch",
        image(BASE.replace("runtime", "devel")),
        {REQS: GOOD_REQS.replace("torch==2.13.0", "torch==2.12.0")},
        ["TS103"],
        {"TS103": "torch==2.13.0 (or FROM pytorch/pytorch:2.12.0-cuda13.0-cudnn9-devel)"},
    ),
    (
        "CPU index on a CUDA image",
        image(
            install="RUN pip install --extra-index-url "
            "https://download.pytorch.org/whl/cpu -r "
            "/opt/app/requirements.txt"
        ),
        {REQS: GOOD_REQS},
        ["TS202"],
        {"TS202": "--extra-index-url https://download.pytorch.org/whl/cu130"},
    ),
    (
        "cu126 wheel and index on a CUDA 13.0 base",
        image(),
        {REQS: "--extra-index-url https://download.pytorch.org/whl/cu126\ntorch==2.13.0+cu126\n"},
        ["TS201", "TS202"],
        {"TS201": "torch==2.13.0", "TS202": "download.pytorch.org/whl/cu130"},
    ),
    (
        "CUDA 13.2 base on the 580 driver",
        image("pytorch/pytorch:2.13.0-cuda13.2-cudnn9-runtime"),
        {REQS: GOOD_REQS},
        ["TS203"],
        {"TS203": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"},
    ),
    (
        "CUDA 13.1: no torch build and too new",
        image("pytorch/pytorch:2.13.0-cuda13.1-cudnn9-runtime"),
        {REQS: GOOD_REQS},
        ["TS203", "TS204"],
        {"TS204": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"},
    ),
    (
        "nvidia/cuda 12.8 has no torch 2.13 build",
        NVIDIA_2404.replace("13.0.2", "12.8.1"),
        {REQS: "--extra-index-url https://download.pytorch.org/whl/cu128\ntorch==2.13.0+cu128\n"},
        ["TS204"],
        {"TS204": "nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 with torch==2.13.0+cu130"},
    ),
    (
        "python:3.12 wheels copied into an Ubuntu 22.04 (Python 3.10) image",
        WHEEL_BUILDER,
        {REQS: CU130},
        ["TS302"],
        {"TS302": "FROM python:3.10-slim for stage 'wheels'"},
    ),
    (
        "pip for Python 3.11 on Ubuntu 24.04 (Python 3.12)",
        NVIDIA_2404.replace("RUN python3 -m pip", "RUN python3.11 -m pip"),
        {REQS: CU130},
        ["TS301"],
        {"TS301": "python -m pip install"},
    ),
    (
        "every torch line excluded by its python marker",
        image("python:3.11-slim"),
        {
            REQS: "--extra-index-url https://download.pytorch.org/whl/cu130\n"
            'torch==2.13.0+cu130 ; python_version >= "3.12"\n'
        },
        ["TS303"],
        {"TS303": "torch==2.13.0+cu130"},
    ),
    (
        "== against an excluding range across files, and a duplicate",
        image(
            install="RUN pip install -r /opt/app/requirements.txt -r /opt/app/dev.txt", head=""
        ).replace(
            "COPY trainer/requirements.txt /opt/app/requirements.txt",
            "COPY trainer/requirements.txt trainer/dev.txt /opt/app/",
        ),
        {REQS: GOOD_REQS, "trainer/dev.txt": "numpy==1.25.2\ndatasets>=3,<6\npytest>=8\n"},
        ["TS401", "TS402"],
        {"TS401": "numpy==1.25.2", "TS402": "datasets>=3,<6"},
    ),
    (
        "ranges that do not overlap",
        image(install="RUN pip install -r /opt/app/requirements.txt && pip install 'numpy<2'"),
        {REQS: GOOD_REQS.replace("numpy>=1.26", "numpy>=2.0")},
        ["TS401"],
        {"TS401": "numpy>=2.0 (trainer/requirements.txt:2); delete numpy<2 (Dockerfile:4)"},
    ),
    (
        "torch pinned with and without its local label: compatible, but twice",
        NVIDIA_2404.replace(
            "-r /tmp/requirements.txt", "-r /tmp/requirements.txt torch==2.13.0+cu130"
        ),
        {REQS: "--extra-index-url https://download.pytorch.org/whl/cu130\ntorch==2.13.0\n"},
        ["TS402"],
        {"TS402": "torch==2.13.0 (trainer/requirements.txt:2)"},
    ),
    (
        "torch pinned twice to different releases",
        image(install="RUN pip install -r /opt/app/requirements.txt && pip install torch==2.12.0"),
        {REQS: GOOD_REQS},
        ["TS103", "TS401"],
        {"TS103": "torch==2.13.0", "TS401": "torch==2.13.0 in one place"},
    ),
    (
        "pip install -U torch on top of the base",
        image(install="RUN pip install -r /opt/app/requirements.txt && pip install -U torch"),
        {REQS: GOOD_REQS},
        ["TS105", "TS402"],
        {"TS105": "torch==2.13.0"},
    ),
    (
        "torch as a range only",
        image(),
        {REQS: "torch>=2.12\nnumpy>=1.26\n"},
        ["TS105"],
        {"TS105": "torch==2.13.0"},
    ),
    (
        "ARG CUDA_VERSION describes another base",
        ARGS_DOCKERFILE.replace("cuda${CUDA_VERSION}", "cuda12.6"),
        {REQS: GOOD_REQS},
        ["TS104"],
        {"TS104": "ARG CUDA_VERSION=12.6"},
    ),
    (
        "torch release unknown to TORCH_CUDA_BUILDS",
        image("pytorch/pytorch:2.99.0-cuda13.0-cudnn9-runtime"),
        {REQS: "torch==2.99.0\n"},
        ["TS205"],
        {"TS205": "TORCH_CUDA_BUILDS"},
    ),
    (
        "PyPI torch on nvidia/cuda: CUDA build unchecked",
        NVIDIA_2404,
        {REQS: "torch==2.13.0\n"},
        ["TS206"],
        {
            "TS206": "torch==2.13.0+cu130 with --extra-index-url https://download.pytorch.org/whl/cu130"
        },
    ),
    (
        "find-links for the wrong CUDA, in a heredoc",
        NVIDIA_2404.replace(
            "RUN python3 -m pip install --break-system-packages -r /tmp/requirements.txt",
            "RUN <<EOF\nset -e\npython3 -m pip install --break-system-packages \\\n"
            "  -f https://download.pytorch.org/whl/cu126/torch_stable.html \\\n"
            "  torch==2.13.0+cu126\nEOF",
        ),
        {},
        ["TS201", "TS202"],
        {
            "TS201": "torch==2.13.0+cu130",
            "TS202": "--find-links https://download.pytorch.org/whl/cu130/torch_stable.html",
        },
    ),
    (
        "pytorch tag in a format it cannot read",
        image("pytorch/pytorch:2.13.0-cuda13.0"),
        {REQS: GOOD_REQS},
        ["TS106"],
        {"TS106": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"},
    ),
    (
        "FROM variable without a default",
        "ARG TORCH\nFROM pytorch/pytorch:${TORCH}-cuda13.0-cudnn9-runtime\n",
        {},
        ["TS100"],
        {"TS100": "--build-arg"},
    ),
    (
        "pip installs a file nobody gave the preflight",
        f"FROM {BASE}\nCOPY trainer /opt/app/trainer\nWORKDIR /opt/app/trainer\n"
        "RUN pip install -r requirements.txt -r extra.txt\n",
        {REQS: GOOD_REQS},
        ["TS403"],
        {"TS403": "--requirements trainer/extra.txt"},
    ),
]


@pytest.mark.parametrize(
    "dockerfile, requirements, codes, fixes", [pytest.param(*s[1:], id=s[0]) for s in SCENARIOS]
)
def test_scenario(dockerfile, requirements, codes, fixes):
    findings = analyze(dockerfile, requirements, facts=FACTS)
    assert [f.code for f in findings] == codes, "\n".join(map(str, findings))
    for code, text in fixes.items():
        fix = next(f.fix for f in findings if f.code == code)
        assert text in fix, (code, fix)


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


def test_severities_follow_how_sure_the_python_is():
    # Ubuntu 24.04's python3 is 3.12 for sure; the pytorch/pytorch table is an inference.
    sure = analyze(
        NVIDIA_2404.replace("python3 -m pip", "python3.11 -m pip"), {REQS: CU130}, facts=FACTS
    )
    inferred = analyze(
        image(install="RUN python3.12 -m pip install -r /opt/app/requirements.txt"),
        {REQS: GOOD_REQS},
        facts=FACTS,
    )
    assert by_code(sure, "TS301").severity == "error"
    assert [(f.code, f.severity) for f in inferred] == [("TS301", "warning")]
    assert "3.11" in by_code(inferred, "TS301").message


def test_messages_name_both_sides():
    findings = analyze(
        image("pytorch/pytorch:2.13.0-cuda13.1-cudnn9-runtime"), {REQS: GOOD_REQS}, facts=FACTS
    )
    assert "ships no CUDA 13.1 build (only 12.6, 13.0, 13.2)" in by_code(findings, "TS204").message
    driver = by_code(findings, "TS203")
    assert "newer than the node driver supports (13.0" in driver.message
    assert driver.severity == "error" and driver.where == "Dockerfile:2"


def test_build_args_replace_arg_defaults():
    assert analyze(ARGS_DOCKERFILE, {REQS: GOOD_REQS}, facts=FACTS) == []
    findings = analyze(
        ARGS_DOCKERFILE, {REQS: GOOD_REQS}, facts=FACTS, build_args={"CUDA_VERSION": "13.2"}
    )
    assert [f.code for f in findings] == ["TS203"]


def test_cuda_arg_may_carry_the_patch_release():
    head = "ARG CUDA_VERSION=13.0.2\n"
    text = head + NVIDIA_2404.replace("RUN apt-get", "ARG CUDA_VERSION\nRUN apt-get", 1)
    assert analyze(text, {REQS: CU130}, facts=FACTS) == []
    wrong = analyze(text, {REQS: CU130}, facts=FACTS, build_args={"CUDA_VERSION": "12.8"})
    assert [(f.code, f.fix) for f in wrong] == [("TS104", "ARG CUDA_VERSION=13.0")]


def test_driver_fact_is_what_decides():
    newer_driver = Facts("13.2", FACTS.torch_cuda_builds)
    base = image("pytorch/pytorch:2.13.0-cuda13.2-cudnn9-runtime")
    assert [f.code for f in analyze(base, {REQS: GOOD_REQS}, facts=FACTS)] == ["TS203"]
    assert analyze(base, {REQS: GOOD_REQS}, facts=newer_driver) == []


def test_unused_builder_stage_is_ignored():
    # A stage the final image neither builds on nor copies from cannot break it.
    text = "FROM python:latest AS scratchpad\nRUN pip install torch==1.0\n" + image()
    assert analyze(text, {REQS: GOOD_REQS}, facts=FACTS) == []
    used = text.replace("USER 1000", "COPY --from=scratchpad /x /x\nUSER 1000")
    assert "TS102" in [f.code for f in analyze(used, {REQS: GOOD_REQS}, facts=FACTS)]


# --------------------------------------------------------------------------- the repository's own


def test_repository_image_passes_with_the_real_facts():
    text = (ROOT / "trainer" / "Dockerfile").read_text()
    installed = preflight.installed_requirement_files(text)
    assert REQS in installed  # found through the Dockerfile's COPY and pip lines
    findings = analyze(
        text,
        {name: (ROOT / name).read_text() for name in installed},
        dockerfile_name="trainer/Dockerfile",
    )
    assert findings == [], "\n".join(map(str, findings))


def test_facts_are_read_from_versions_py():
    facts = preflight.load_facts()
    assert facts.driver_max_cuda == versions.NVIDIA_DRIVER_MAX_CUDA
    assert facts.torch_cuda_builds == versions.TORCH_CUDA_BUILDS


def test_pytorch_python_table_covers_the_pinned_releases():
    # The table is an inference (see PYTORCH_IMAGE_PYTHON); at least it must give an answer for
    # every release versions.py knows, or the TS30x checks silently stop running for them.
    for release in versions.TORCH_CUDA_BUILDS:
        assert preflight.read_base(f"pytorch/pytorch:{release}.0-cuda13.0-cudnn9-runtime").python
    # Its documented edge: 2.4 on, and no guess for older tags.
    assert preflight.read_base("pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime").python == "3.11"
    assert preflight.read_base("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime").python is None


# ------------------------------------------------------------- versions and requirements pip refuses


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


# ------------------------------------------------------------------------------------------- CLI


BAD = image(
    install="RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "
    "-r /opt/app/requirements.txt"
)


def project(tmp_path: Path, dockerfile: str, requirements: str = GOOD_REQS) -> Path:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "Dockerfile").write_text(dockerfile)
    (tmp_path / REQS).write_text(requirements)
    return tmp_path


def test_cli_prints_findings_and_exits_1_on_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project(tmp_path, BAD))
    assert preflight.main([]) == 1
    out = capsys.readouterr().out
    assert "TS202 error trainer/Dockerfile:4: https://download.pytorch.org/whl/cpu" in out
    assert "fix: --extra-index-url https://download.pytorch.org/whl/cu130" in out
    assert "1 error(s), 0 warning(s)" in out


def test_cli_json_and_warnings_only_exit_0(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project(tmp_path, image(), "torch>=2.12\n"))
    assert preflight.main(["--json"]) == 0
    findings = json.loads(capsys.readouterr().out)
    assert [(f["code"], f["severity"], f["fix"]) for f in findings] == [
        ("TS105", "warning", "torch==2.13.0")
    ]


def codes(capsys) -> list[str]:
    return [f["code"] for f in json.loads(capsys.readouterr().out)]


def test_cli_reads_included_and_installed_files(tmp_path, capsys, monkeypatch):
    root = project(tmp_path, image(), "-r base.txt\nnumpy==1.25.0\n")
    (root / "trainer" / "base.txt").write_text("torch==2.13.0\nnumpy>=1.26\n")
    (root / "other.Dockerfile").write_text(
        "FROM pytorch/pytorch\nCOPY trainer /opt/app/trainer\n"
        "RUN pip install -r /opt/app/trainer/base.txt -r /opt/app/trainer/missing.txt\n"
    )
    monkeypatch.chdir(root)
    assert preflight.main(["--json"]) == 1
    assert codes(capsys) == ["TS401"]  # base.txt came in through -r in requirements.txt
    assert preflight.main(["--dockerfile", "other.Dockerfile", "--json"]) == 1
    assert codes(capsys) == ["TS101", "TS401", "TS403"]  # the default file is still read
    assert (
        preflight.main(
            ["--dockerfile", "other.Dockerfile", "--requirements", "trainer/base.txt", "--json"]
        )
        == 1
    )
    assert codes(capsys) == ["TS101", "TS403"]  # base.txt alone: no numpy conflict


def test_cli_missing_file_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert preflight.main([]) == 2
    assert "trainer/Dockerfile" in capsys.readouterr().err


def test_module_runs_on_a_bare_python_with_packaging_only(tmp_path):
    # -S: no site-packages; PYTHONPATH holds packaging alone, as CodeBuild's python3 has after
    # the buildspec's install phase (test_buildspec_installs_packaging_before_the_preflight).
    (tmp_path / "packaging").symlink_to(Path(packaging.__file__).parent)
    run = subprocess.run(
        [sys.executable, "-S", "-m", "imagebuild.preflight"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("preflight: trainer/Dockerfile with trainer/requirements.txt")
    assert run.stdout.rstrip().endswith(": 0 error(s), 0 warning(s)")


def test_buildspec_installs_packaging_before_the_preflight():
    spec = yaml.safe_load((ROOT / "trainer" / "buildspec.yml").read_text())
    commands = [
        cmd
        for phase in ("install", "pre_build")
        for cmd in spec["phases"].get(phase, {}).get("commands", [])
    ]
    install = next(i for i, c in enumerate(commands) if "pip install" in c)
    run = next(i for i, c in enumerate(commands) if "imagebuild.preflight" in c)
    assert install < run, commands
    # The pin is the version the tests ran the preflight with; pyproject's floor allows it.
    assert f"'packaging=={packaging.__version__}'" in commands[install], (
        f"pin packaging=={packaging.__version__} in trainer/buildspec.yml, as installed here"
    )
