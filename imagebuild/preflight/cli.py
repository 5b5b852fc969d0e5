"""`python -m imagebuild.preflight` and `trainstack preflight`: arguments, files, output, exit
code (0 clean or warnings only, 1 on an error, 2 when a file cannot be read)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from ..dockerfile import parse_requirements
from .analysis import analyze
from .findings import Finding
from .fix import fix_to_fixed_point, why_not_fixed
from .image import installed_requirement_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dockerfile", type=Path, default=None, help="the Dockerfile (default trainer/Dockerfile)"
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        nargs="+",
        action="extend",
        default=None,
        help="requirement files pip installs (default trainer/requirements.txt); "
        "the files the Dockerfile installs with -r and those included "
        "with -r are read too",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="as docker build --build-arg: replaces an ARG's default",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as a JSON list")
    parser.add_argument(
        "--fix",
        action="store_true",
        help="write the fixes into the Dockerfile and requirements files (base tag, pins, index "
        "URLs, conflicting lines), show each as a diff, and check again until clean or nothing "
        "more changes; what stays says why it was not fixed",
    )


def _display(path: Path, context: Path) -> str:
    """The path as findings name it: relative to the build context, as COPY sources are."""
    try:
        return Path(os.path.relpath(path, context)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def read_requirement_files(paths: list[Path], context: Path = Path(".")) -> dict[str, str]:
    """The files and, recursively, the files they include with -r/-c that exist on disk, named
    relative to the build context."""
    texts: dict[str, str] = {}
    todo = list(paths)
    while todo:
        path = todo.pop(0)
        name = _display(path, context)
        if name in texts:
            continue
        texts[name] = path.read_text()
        for _, include, _ in parse_requirements(texts[name], name).includes:
            nested = path.parent / include
            if nested.is_file():
                todo.append(nested)
    return texts


def _check(args: argparse.Namespace, root: Path) -> tuple[list[Finding], dict[str, str], str]:
    """The findings, the texts read (build-context path -> text, the Dockerfile's included) and
    the Dockerfile's path. Raises OSError when a file cannot be read."""
    dockerfile = args.dockerfile or root / "trainer" / "Dockerfile"
    default = root / "trainer" / "requirements.txt"
    paths = list(args.requirements or ([default] if default.is_file() else []))
    build_args = _build_args(args)
    text = dockerfile.read_text()
    # What the Dockerfile installs is checked without being named twice; a file it names
    # that is not in the context stays unread and is reported (TS403).
    paths += [
        root / p for p in installed_requirement_files(text, build_args) if (root / p).is_file()
    ]
    requirements = read_requirement_files(paths, root)
    name = _display(dockerfile, root)
    findings = analyze(text, requirements, dockerfile_name=name, build_args=build_args)
    return findings, {name: text, **requirements}, name


def _build_args(args: argparse.Namespace) -> dict[str, str]:
    return dict(a.partition("=")[::2] for a in args.build_arg)


def run(args: argparse.Namespace, root: Path | None = None) -> int:
    """The preflight for parsed arguments. `root` is the build context (the current directory
    unless given): default paths resolve against it and findings name files relative to it.
    With --fix, the findings' edits are written first (fix.py), each shown as a diff."""
    root = root or Path(".")
    build_args = _build_args(args)
    try:
        findings, texts, name = _check(args, root)
        if getattr(args, "fix", False):
            echo = (lambda s: print(s, file=sys.stderr)) if args.json else print
            findings = fix_to_fixed_point(
                lambda: _check(args, root),
                lambda path, text: (root / path).write_text(text),
                build_args,
                echo,
            )
            _, texts, name = _check(args, root)
    except OSError as err:
        print(f"preflight: {err}", file=sys.stderr)
        return 2
    errors = sum(f.severity == "error" for f in findings)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding)
            if getattr(args, "fix", False):
                print(f"    not fixed: {why_not_fixed(finding, build_args)}")
        files = ", ".join(p for p in texts if p != name) or "no requirements files"
        print(
            f"preflight: {name} with {files}: {errors} error(s), "
            f"{len(findings) - errors} warning(s)"
        )
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagebuild.preflight",
        description="Dockerfile preflight: the conflicts between a training image's base, its pip "
        "installs and the GPU nodes, found before a build.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
