"""Checks of the image's CUDA: the indexes pip fetches from (TS202), the node driver (TS203) and
the torch/CUDA builds that exist (TS204, TS205)."""

from __future__ import annotations

import re

from packaging.version import Version

from ..dockerfile import Requirement
from .base import pytorch_tag
from .checks_torch import wheel_cuda
from .facts import (
    best_cuda,
    cu_tag,
    describe_cuda,
    newest_release,
    public,
    release_of,
    version_or_none,
)
from .findings import Edit, Finding, repin
from .image import WHEEL_INDEX, Image


def image_cuda(image: Image) -> tuple[str | None, str]:
    """The CUDA the image runs and where that comes from: the base, else the torch wheel."""
    if image.base.cuda:
        return image.base.cuda, f"base {image.base.ref}"
    for req in image.torch_reqs():
        wheel = wheel_cuda(req.exact) if req.exact else None
        if wheel:
            return wheel, f"{req.where}: torch=={req.exact}"
    if image.indexes:
        return image.indexes[0].cuda, f"{image.indexes[0].where}: {image.indexes[0].url}"
    return None, ""


def check_index_cuda(image: Image) -> list[Finding]:
    """An index for another CUDA (or CPU) is where pip fetches torch and its kin from."""
    cuda, origin = image_cuda(image)
    if cuda is None:
        return []
    out = []
    for ref in image.indexes:
        if ref.cuda == cuda:
            continue
        url = WHEEL_INDEX.sub(lambda m: m.group(0).replace(m["tag"], cu_tag(cuda)), ref.url)
        out.append(
            Finding(
                "TS202",
                "error",
                f"{ref.url} serves "
                f"{describe_cuda(ref.cuda)} wheels, the image is "
                f"{describe_cuda(cuda)} ({origin})",
                f"{ref.option} {url}",
                ref.where,
                edits=(Edit(*_at(ref.where), ref.url, url),),
            )
        )
    return out


def check_driver(image: Image) -> list[Finding]:
    """The node driver, not the image, bounds the CUDA a container can initialise."""
    cuda, origin = image_cuda(image)
    facts = image.facts
    if (
        not cuda
        or not re.fullmatch(r"\d+\.\d+", cuda)
        or Version(cuda) <= Version(facts.driver_max_cuda)
    ):
        return []
    base, pin = image.base, image.torch_pin()
    torch = base.torch or (public(pin.exact) if pin else None)
    best = best_cuda(facts, torch)
    root = image.root_stage.df.line
    if base.kind == "pytorch" and base.torch:
        fix = pytorch_tag(base.torch, best, base)
        edit = {"edits": (Edit(image.name, root, base.ref, fix),)}
    elif base.kind == "cuda" and base.cuda:
        fix = f"nvidia/cuda:{best}.0-{base.rest}"
        edit = {"edits": (Edit(image.name, root, base.ref, fix),)}
    else:
        fix = (
            f"torch=={torch or newest_release(facts)}+{cu_tag(best)} with --extra-index-url "
            f"https://download.pytorch.org/whl/{cu_tag(best)}"
        )
        # The wheel first; its index then disagrees with it (TS202), and that is fixed next.
        edit = (
            {"edits": (repin(pin, f"{torch}+{cu_tag(best)}"),)}
            if pin and torch
            else {"manual": "no torch pin to rebuild for another CUDA: pin torch first"}
        )
    where = image.at(image.final.df.line) if base.cuda else origin.split(": ", 1)[0]
    return [
        Finding(
            "TS203",
            "error",
            f"CUDA {cuda} ({origin}) is newer than the node driver "
            f"supports ({facts.driver_max_cuda}, NVIDIA_DRIVER_MAX_CUDA): CUDA "
            "initialisation fails on the GPU nodes",
            fix,
            where,
            **edit,
        )
    ]


def _at(where: str) -> tuple[str, int]:
    """ "trainer/requirements.txt:3" -> (path, 3)."""
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def _torch_cuda_pairs(image: Image) -> list[tuple[str, str, str, Requirement | None]]:
    """(torch, CUDA, where, the pin or None for the base) for each torch build the image would
    run or fetch."""
    base, pairs = image.base, []
    if base.kind == "pytorch" and base.torch and base.cuda and base.cuda != "cpu":
        pairs.append((base.torch, base.cuda, image.at(image.final.df.line), None))
    index_cuda = next((i.cuda for i in image.indexes if re.fullmatch(r"\d+\.\d+", i.cuda)), None)
    for req in image.torch_reqs():
        if not req.exact or not version_or_none(req.exact):
            continue
        release, wheel = public(req.exact), wheel_cuda(req.exact)
        if wheel is None and base.kind != "pytorch":
            wheel = index_cuda
        if wheel and re.fullmatch(r"\d+\.\d+", wheel):
            pairs.append((release, wheel, req.where, req))
    return pairs


def check_published_builds(image: Image) -> list[Finding]:
    """A torch/CUDA pair nobody built fails at `docker build` (no such tag or wheel)."""
    facts, out, seen = image.facts, [], set()
    for torch, cuda, where, req in _torch_cuda_pairs(image):
        release = release_of(torch)
        if (release, cuda) in seen:
            continue
        seen.add((release, cuda))
        builds = facts.torch_cuda_builds.get(release)
        if builds is None:
            out.append(
                Finding(
                    "TS205",
                    "warning",
                    f"no TORCH_CUDA_BUILDS entry for torch "
                    f"{release} (imagebuild/cuda_versions.py): its CUDA builds cannot be "
                    "checked",
                    f"torch=={newest_release(facts)}, or add torch {release} to TORCH_CUDA_BUILDS",
                    where,
                    manual=f"a newer torch or torch {release}'s CUDA builds in "
                    "imagebuild/cuda_versions.py: which one is the author's choice",
                )
            )
            continue
        if cuda in builds:
            continue
        best, base = best_cuda(facts, torch), image.base
        root = image.root_stage.df.line
        if req is None:
            fix = pytorch_tag(torch, best, base)
            edits: tuple[Edit, ...] = (Edit(image.name, root, base.ref, fix),)
        elif base.kind == "cuda" and base.rest:  # the wheel's CUDA must stay the base's (TS201)
            new_base = f"nvidia/cuda:{best}.0-{base.rest}"
            fix = f"{new_base} with torch=={torch}+{cu_tag(best)}"
            edits = (
                Edit(image.name, root, base.ref, new_base),
                repin(req, f"{torch}+{cu_tag(best)}"),
            )
        else:
            fix = f"torch=={torch}+{cu_tag(best)}"
            edits = (repin(req, f"{torch}+{cu_tag(best)}"),)
        out.append(
            Finding(
                "TS204",
                "error",
                f"torch {release} ships no CUDA {cuda} build (only {', '.join(builds)})",
                fix,
                where,
                edits=edits,
            )
        )
    return out
