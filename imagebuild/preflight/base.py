"""What a FROM reference says about an image: repository, tag, torch, CUDA, Python."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import Version

from ..dockerfile import split_image

# Python of the official pytorch/pytorch images. pytorch's docker.Makefile builds them with
# `PYTHON_VERSION ?= 3.11`, and its docker release matrix (generate_docker_release_matrix.py) does
# not override it. From which release on that holds (2.4 assumed here) and whether a later release
# moved on could not be verified, so an older tag gives no Python and the TS30x findings that rest
# on this table are warnings. `docker run --rm <image> python -V` settles it.
PYTORCH_IMAGE_PYTHON = {(2, 4): "3.11"}
# `python3` from apt on the Ubuntu releases nvidia/cuda and ubuntu images are built on.
UBUNTU_PYTHON = {"20.04": "3.8", "22.04": "3.10", "24.04": "3.12"}
_PYTORCH_TAG = re.compile(
    r"^(?P<torch>\d+\.\d+\.\d+)(?:-cuda(?P<cuda>\d+\.\d+)"
    r"-cudnn(?P<cudnn>\d+))?-(?P<flavor>runtime|devel)$"
)
_CUDA_TAG = re.compile(r"^(?P<cuda>\d+\.\d+(?:\.\d+)?)-(?P<rest>.+)$")
_PYTHON_TAG = re.compile(r"^(?P<py>3\.\d+)(?:\.\d+)?(?:[-.a-z].*)?$")


@dataclass
class Base:
    """What a FROM reference says about the image: repository, tag, torch, CUDA, Python."""

    ref: str
    repo: str
    tag: str | None
    digest: str | None
    kind: str  # pytorch | cuda | python | ubuntu | stage | scratch | other
    torch: str | None = None
    cuda: str | None = None  # "13.0"; "cpu" for a CPU-only pytorch tag
    cudnn: str | None = None
    flavor: str | None = None
    python: str | None = None
    python_certain: bool = False
    ubuntu: str | None = None
    rest: str | None = None  # the nvidia/cuda tag after its version: "cudnn-runtime-ubuntu24.04"
    understood: bool = True


def _pytorch_python(torch: str) -> str | None:
    for since, python in sorted(PYTORCH_IMAGE_PYTHON.items(), reverse=True):
        if Version(torch).release[:2] >= since:
            return python
    return None


def read_base(ref: str) -> Base:
    repo, tag = split_image(ref)
    digest = ref.split("@", 1)[1] if "@" in ref else None
    short = re.sub(r"^(?:docker\.io/|index\.docker\.io/)?(?:library/)?", "", repo)
    base = Base(ref=ref, repo=short, tag=tag, digest=digest, kind="other")
    if short == "scratch":
        base.kind = "scratch"
    elif short == "pytorch/pytorch":
        base.kind = "pytorch"
        m = _PYTORCH_TAG.match(tag or "")
        base.understood = bool(m)
        if m:
            base.torch, base.cuda = m["torch"], m["cuda"] or "cpu"
            base.cudnn, base.flavor = m["cudnn"], m["flavor"]
            base.python = _pytorch_python(m["torch"])
    elif short == "nvidia/cuda":
        base.kind = "cuda"
        m = _CUDA_TAG.match(tag or "")
        base.understood = bool(m)
        if m:
            base.cuda, base.rest = ".".join(m["cuda"].split(".")[:2]), m["rest"]
            ub = re.search(r"ubuntu(\d+\.\d+)", m["rest"])
            base.ubuntu = ub.group(1) if ub else None
    elif short == "python":
        base.kind = "python"
        m = _PYTHON_TAG.match(tag or "")
        base.python, base.python_certain = (m["py"], True) if m else (None, False)
    elif short == "ubuntu":
        base.kind = "ubuntu"
        base.ubuntu = tag if tag in UBUNTU_PYTHON else None
    return base


def pytorch_tag(torch: str, cuda: str, base: Base | None = None) -> str:
    cudnn = base.cudnn if base and base.cudnn else "9"
    flavor = base.flavor if base and base.flavor else "runtime"
    return f"pytorch/pytorch:{torch}-cuda{cuda}-cudnn{cudnn}-{flavor}"
