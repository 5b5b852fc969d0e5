"""Checks of the Python each package is installed for: pip's interpreter (TS301), files copied
from a stage with another Python (TS302), markers that exclude the image's Python (TS303)."""

from __future__ import annotations

import re

from ..dockerfile import Requirement, evaluate_marker
from .findings import Edit, Finding, severity
from .image import Image, Stage, marker_env, stage_ref


def _python_origin(stage: Stage) -> str:
    root = stage.root
    if root.kind == "pytorch" and stage.python == root.python:
        return f"{root.ref}, per the pytorch/pytorch image table"
    return f"stage {stage.label}, {root.ref}"


def _inferred(stage: Stage) -> str:
    return (
        f"the Python of stage {stage.label} is inferred ({_python_origin(stage)}), not stated: "
        "check it with `docker run --rm <image> python -V` before changing anything"
    )


def check_pip_interpreter(image: Image) -> list[Finding]:
    """Packages installed for another interpreter are invisible to the `python` that runs."""
    out = []
    for stage in image.stages:
        for cmd in stage.pips:
            if not cmd.python or not stage.python or cmd.python == stage.python:
                continue
            where = image.at(cmd.line)
            # Only with the Python known: pythonX.Y exists wherever it is (apt, conda, python:).
            fixes = (
                {
                    "edits": (
                        Edit(
                            image.name,
                            cmd.line,
                            f"python{cmd.python} -m pip",
                            f"python{stage.python} -m pip",
                        ),
                        Edit(image.name, cmd.line, f"pip{cmd.python}", f"pip{stage.python}"),
                    )
                }
                if stage.python_certain
                else {"manual": _inferred(stage)}
            )
            out.append(
                Finding(
                    "TS301",
                    severity(stage.python_certain),
                    f"pip for Python "
                    f"{cmd.python}, the image's python is {stage.python} "
                    f"({_python_origin(stage)}): the packages land where `python` "
                    "does not look, or the interpreter is missing",
                    f"python -m pip {cmd.subcommand} ... (or python{stage.python} -m pip)",
                    where,
                    **fixes,
                )
            )
    return out


def check_copy_python(image: Image) -> list[Finding]:
    """cp312 wheels or a 3.12 venv do not import under 3.11 (and the reverse)."""
    out = []
    for stage in image.stages:
        for ref, line in stage.copies_from:
            source = stage_ref(image.stages, ref)
            if (
                source is None
                or not source.python
                or not stage.python
                or source.python == stage.python
            ):
                continue
            fix = (
                f"FROM python:{stage.python}-slim for stage {source.label}"
                if source.root.kind == "python"
                else f"build stage {source.label} with Python {stage.python}"
            )
            fixes: dict = {
                "manual": f"how stage {source.label} gets Python {stage.python} is the author's "
                "choice"
            }
            if not stage.python_certain:
                fixes = {"manual": _inferred(stage)}
            elif source.root.kind == "python" and source.python_certain:
                root = source
                while root.parent is not None:
                    root = root.parent
                new = f"python:{stage.python}-slim"
                fixes = {"edits": (Edit(image.name, root.df.line, source.root.ref, new),)}
            out.append(
                Finding(
                    "TS302",
                    severity(stage.python_certain and source.python_certain),
                    f"COPY --from={ref} brings files built for "
                    f"Python {source.python} into stage {stage.label}, which runs "
                    f"Python {stage.python} ({_python_origin(stage)})",
                    fix,
                    image.at(line),
                    **fixes,
                )
            )
    return out


def check_python_markers(image: Image) -> list[Finding]:
    """pip skips a line whose marker is false without a word: the package silently goes."""
    python = image.final.python
    if not python:
        return []
    env = marker_env(python)
    by_name: dict[str, list[Requirement]] = {}
    for req in image.requirements:
        by_name.setdefault(req.name, []).append(req)
    out = []
    for reqs in by_name.values():
        if any(r is a for r in reqs for a in image.active):
            continue
        mentions = [
            r
            for r in reqs
            if r.marker
            and re.search(r"python_(full_)?version", str(r.marker))
            and evaluate_marker(r.marker, env) is False
        ]
        if not mentions:
            continue
        req = mentions[0]
        fix = req.unmarked
        out.append(
            Finding(
                "TS303",
                severity(image.final.python_certain),
                f"every {req.display} "
                "line has a marker that excludes the image's Python "
                f"{python} ({req.marker}): pip installs no {req.display}",
                fix,
                req.where,
                **(
                    {"edits": (Edit(req.source, req.line, req.text, req.unmarked),)}
                    if image.final.python_certain
                    else {"manual": _inferred(image.final)}
                ),
            )
        )
    return out
