"""Checks of the base image itself: pinned (TS101, TS102), readable (TS106), and described
truly by the Dockerfile's own ARGs (TS104)."""

from __future__ import annotations

from .base import Base, pytorch_tag
from .facts import best_cuda, newest_release, public
from .findings import Edit, Finding
from .image import Image


def suggested_base(image: Image, base: Base) -> str:
    """A pinned tag for an unpinned or `:latest` base."""
    pin = image.torch_pin()
    if base.kind == "pytorch":
        torch = public(pin.exact) if pin else newest_release(image.facts)
        return pytorch_tag(torch, best_cuda(image.facts, torch))
    if base.kind == "cuda":
        cuda = best_cuda(image.facts, pin.exact if pin else None)
        # X.Y.0 exists for every CUDA release; a later patch of the same X.Y is as good.
        return f"nvidia/cuda:{cuda}.0-cudnn-runtime-ubuntu24.04"
    if base.kind == "python":
        return f"python:{image.final.python or '3.11'}-slim"
    return f"{base.repo}:<release tag>@sha256:<digest>"


def base_fix(image: Image, stage_line: int, base: Base, new_ref: str) -> dict:
    """The edit of a FROM line to `new_ref` (fix.py follows a FROM built from ARGs to their
    defaults), or why there is none: a tag and digest only the registry knows."""
    if "<" in new_ref:
        return {"manual": f"which {base.repo} release to pin is the author's choice"}
    return {"edits": (Edit(image.name, stage_line, base.ref, new_ref),)}


def check_base_pinned(image: Image) -> list[Finding]:
    """A moving base changes torch, CUDA and Python under an unchanged Dockerfile."""
    out = []
    for stage in image.stages:
        base = stage.base
        if base.kind in ("stage", "scratch") or base.digest:
            continue
        if base.tag is None:
            out.append(
                Finding(
                    "TS101",
                    "error",
                    f"base image {base.ref!r} is not pinned to a "
                    "release tag: every build may pull a different torch and CUDA",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                    **base_fix(image, stage.df.line, base, suggested_base(image, base)),
                )
            )
        elif base.tag == "latest":
            out.append(
                Finding(
                    "TS102",
                    "error",
                    f"base image {base.ref!r} is not pinned: `latest` moves to each new release",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                    **base_fix(image, stage.df.line, base, suggested_base(image, base)),
                )
            )
    return out


def check_args_vs_tag(image: Image) -> list[Finding]:
    """The Dockerfile's own ARGs describe the base; when they disagree, whatever reads them
    (the trainer Dockerfile's torch check, labels) checks against the wrong image."""
    stage, base = image.final, image.final.root
    tag_values = {
        "TORCH_VERSION": base.torch,
        "CUDA_VERSION": base.cuda if base.cuda != "cpu" else None,
    }
    out = []
    for arg, tag_value in tag_values.items():
        value = stage.df.args.get(arg)
        if not tag_value or not value or value == tag_value:
            continue
        if arg == "CUDA_VERSION" and ".".join(value.split(".")[:2]) == tag_value:
            continue  # ARG CUDA_VERSION=13.0.2 on nvidia/cuda:13.0.2-...
        what = "torch" if arg == "TORCH_VERSION" else "CUDA"
        out.append(
            Finding(
                "TS104",
                "error",
                f"base tag {what} {tag_value} != ARG {arg} {value}",
                f"ARG {arg}={tag_value}",
                image.at(stage.df.line),
                # The ARG's default wherever it is declared (fix.py names a --build-arg instead).
                edits=(Edit(image.name, 0, f"{arg}={value}", f"{arg}={tag_value}"),),
            )
        )
    return out


def check_tag_understood(image: Image) -> list[Finding]:
    out = []
    for stage in image.stages:
        base = stage.base
        if (
            base.kind in ("pytorch", "cuda")
            and not base.understood
            and base.tag
            and base.tag != "latest"
        ):
            expected = (
                "<torch>-cuda<X.Y>-cudnn<N>-runtime|devel"
                if base.kind == "pytorch"
                else "<X.Y.Z>-<flavor>-<os>"
            )
            out.append(
                Finding(
                    "TS106",
                    "warning",
                    f"cannot read tag {base.tag!r} of "
                    f"{base.repo} (expected {expected}): torch/CUDA checks skipped",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                    **base_fix(image, stage.df.line, base, suggested_base(image, base)),
                )
            )
    return out
