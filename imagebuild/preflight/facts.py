"""The version facts the checks compare against, and the version arithmetic on them: which
torch releases are built for which CUDA (imagebuild/cuda_versions.py, imported, so the Pulumi
program and the preflight read one source), and the spellings of a CUDA version in tags, wheel
labels and index URLs."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from .. import cuda_versions


@dataclass(frozen=True)
class Facts:
    """The version facts the checks compare against (imagebuild/cuda_versions.py by default)."""

    driver_max_cuda: str
    torch_cuda_builds: dict[str, tuple[str, ...]]


@functools.cache
def load_facts() -> Facts:
    """The facts of imagebuild/cuda_versions.py, the module components/versions.py re-exports."""
    return Facts(
        driver_max_cuda=cuda_versions.NVIDIA_DRIVER_MAX_CUDA,
        torch_cuda_builds=dict(cuda_versions.TORCH_CUDA_BUILDS),
    )


def version_or_none(text: str) -> Version | None:
    """packaging's reading of a version; None for an `===` pin that is not PEP 440."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def public(version: str) -> str:
    """ "2.13.0+cu130" -> "2.13.0": the version without its local label."""
    parsed = version_or_none(version)
    return parsed.public if parsed else version


def release_of(torch: str) -> str:
    """ "2.13.0+cu130" -> "2.13", the key of TORCH_CUDA_BUILDS."""
    return ".".join(map(str, Version(torch).release[:2]))


def cu_tag(cuda: str) -> str:
    """ "13.0" -> "cu130", as download.pytorch.org and wheel local labels spell it."""
    if not re.fullmatch(r"\d+\.\d+", cuda):
        return cuda  # cpu, rocm6.2, xpu are spelled as they are
    return "cu" + "".join(cuda.split("."))


def cuda_of_tag(tag: str) -> str | None:
    """ "cu130" -> "13.0", "cpu" -> "cpu", "rocm6.2" -> "rocm6.2"; the minor is the last digit."""
    if re.fullmatch(r"cu\d{2,}", tag):
        return f"{tag[2:-1]}.{tag[-1]}"
    return tag if tag == "cpu" or tag.startswith(("rocm", "xpu")) else None


def describe_cuda(cuda: str) -> str:
    return (
        "CPU-only"
        if cuda == "cpu"
        else cuda
        if cuda.startswith(("rocm", "xpu"))
        else f"CUDA {cuda}"
    )


def best_cuda(facts: Facts, torch: str | None) -> str:
    """The newest CUDA the torch release is built for that the node driver runs; the driver's
    own maximum when the release is unknown."""
    builds = facts.torch_cuda_builds.get(release_of(torch)) if torch else None
    limit = Version(facts.driver_max_cuda)
    usable = [c for c in builds or () if Version(c) <= limit]
    return max(usable, key=Version) if usable else facts.driver_max_cuda


def newest_release(facts: Facts) -> str:
    return max(facts.torch_cuda_builds, key=Version) + ".0"
