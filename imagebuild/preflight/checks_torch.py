"""Checks of the torch pins against the base: the base's own torch kept (TS103), torch pinned
(TS105), wheels built for the base's CUDA (TS201), PyPI's torch on a base without one (TS206)."""

from __future__ import annotations

from packaging.version import Version

from .base import pytorch_tag
from .facts import (
    best_cuda,
    cu_tag,
    cuda_of_tag,
    describe_cuda,
    newest_release,
    public,
    release_of,
    version_or_none,
)
from .findings import Edit, Finding, pinned, repin
from .image import Image


def suggested_torch_version(image: Image) -> str:
    """The torch version that keeps what the base carries, or a published build for its CUDA."""
    base = image.base
    if base.kind == "pytorch" and base.torch:
        return base.torch
    if base.cuda and base.cuda != "cpu":
        builds = image.facts.torch_cuda_builds
        releases = [r for r in builds if base.cuda in builds[r]]
        if releases:
            return f"{max(releases, key=Version)}.0+{cu_tag(base.cuda)}"
    return newest_release(image.facts)


def suggested_torch(image: Image) -> str:
    return f"torch=={suggested_torch_version(image)}"


def _added_line(image: Image, source: str, line: str) -> dict:
    """The edit that adds a line at the top of a requirements file; a pip command in a RUN has no
    such place, so that stays the author's."""
    if source in image.files:
        return {"edits": (Edit(source, 1, "", line),)}
    return {"manual": f"add `{line}` to the pip command at {source} by hand"}


def check_torch_vs_base(image: Image) -> list[Finding]:
    """pip replaces the base's CUDA build of torch with whatever the pin resolves to."""
    base = image.base
    if base.kind != "pytorch" or not base.torch:
        return []
    out = []
    for req in image.torch_reqs():
        pin = req.exact
        if pin is None or public(pin) == base.torch:
            continue
        fix = f"torch=={base.torch}"
        cuda = base.cuda if base.cuda != "cpu" else None
        if (
            cuda
            and version_or_none(pin)
            and cuda in image.facts.torch_cuda_builds.get(release_of(pin), ())
            and Version(cuda) <= Version(image.facts.driver_max_cuda)
        ):
            fix += f" (or FROM {pytorch_tag(public(pin), cuda, base)})"
        out.append(
            Finding(
                "TS103",
                "error",
                f"pins torch=={pin}, the base image "
                f"carries {base.torch} ({base.ref}): pip would replace it",
                fix,
                req.where,
                edits=(repin(req, base.torch),),
            )
        )
    return out


def check_torch_pinned(image: Image) -> list[Finding]:
    """Without `torch==`, any dependency's torch requirement may swap the CUDA build."""
    reqs = image.torch_reqs()
    fix, version = suggested_torch(image), suggested_torch_version(image)
    out = []
    for req in reqs:
        if req.exact:
            continue
        if req.upgrade:
            out.append(
                Finding(
                    "TS105",
                    "error",
                    f"`pip install -U {req}` replaces the base's torch with PyPI's newest build",
                    fix,
                    req.where,
                    edits=(repin(req, version),),
                )
            )
        elif not image.torch_pin():
            out.append(
                Finding(
                    "TS105",
                    "warning",
                    f"torch is not pinned with == ({req}): "
                    "pip may install another torch and CUDA build",
                    fix,
                    req.where,
                    edits=(repin(req, version),),
                )
            )
    if not reqs and image.base.kind == "pytorch" and image.base.torch and image.requirements:
        out.append(
            Finding(
                "TS105",
                "warning",
                "torch is not pinned in the requirements: a "
                "dependency that wants another torch makes pip replace the base's "
                "CUDA build",
                fix,
                image.requirements[0].source,
                **_added_line(image, image.requirements[0].source, fix),
            )
        )
    return out


def wheel_cuda(version: str) -> str | None:
    parsed = version_or_none(version)
    return cuda_of_tag(parsed.local) if parsed and parsed.local else None


def check_wheel_suffix(image: Image) -> list[Finding]:
    """A `+cuXXX` wheel brings its own CUDA runtime next to the base's: two CUDAs, one loaded."""
    base = image.base
    if not base.cuda:
        return []
    out = []
    for req in image.active:
        wheel = wheel_cuda(req.exact) if req.exact else None
        if wheel is None or wheel == base.cuda:
            continue
        if req.name == "torch" and base.kind == "pytorch" and base.torch == public(req.exact):
            version = public(req.exact)  # the base's own build, whatever its local label
        else:
            version = f"{public(req.exact)}+{cu_tag(base.cuda)}"
        fix = pinned(req, version)
        out.append(
            Finding(
                "TS201",
                "error",
                f"pins {req.display}=={req.exact}, a "
                f"{describe_cuda(wheel)} build, on a {describe_cuda(base.cuda)} base "
                f"({base.ref})",
                fix,
                req.where,
                edits=(repin(req, version),),
            )
        )
    return out


def check_pypi_torch(image: Image) -> list[Finding]:
    """PyPI's torch carries a default CUDA build that no tag or index here names."""
    base = image.base
    if base.kind == "pytorch" or any(i.cuda for i in image.indexes):
        return []
    out = []
    for req in image.torch_reqs():
        if req.exact and wheel_cuda(req.exact) is None:
            cuda = (
                base.cuda if base.cuda and base.cuda != "cpu" else best_cuda(image.facts, req.exact)
            )
            cu = cu_tag(cuda)
            index = f"--extra-index-url https://download.pytorch.org/whl/{cu}"
            added = _added_line(image, req.source, index)
            out.append(
                Finding(
                    "TS206",
                    "warning",
                    f"torch=={req.exact} comes from "
                    "PyPI, whose default CUDA build is not checked against "
                    f"{describe_cuda(base.cuda) if base.cuda else 'the nodes'}",
                    f"torch=={req.exact}+{cu} with {index}",
                    req.where,
                    edits=(repin(req, f"{req.exact}+{cu}"), *added.get("edits", ())),
                    manual=added.get("manual", ""),
                )
            )
    return out
