"""The realistic Dockerfile/requirements pairs the preflight tests run (test_preflight.py checks
each one's findings, test_preflight_fix.py that `--fix` makes each fixable one clean), and the
helpers that write them.

The scenarios run against FACTS, a copy of today's imagebuild/cuda_versions.py values, so they test
the analyser's logic and keep passing when the real pins move; test_facts_are_the_versions_module
ties the analyser's defaults to that module, which components/versions.py re-exports.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from imagebuild.preflight import Facts

ROOT = Path(__file__).resolve().parents[2]
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


def project(tmp_path: Path, dockerfile: str, requirements: str = GOOD_REQS) -> Path:
    """A build context with trainer/Dockerfile and trainer/requirements.txt."""
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "Dockerfile").write_text(dockerfile)
    (tmp_path / REQS).write_text(requirements)
    return tmp_path
