"""The preflight as a function: every check over one image, ordered by code."""

from __future__ import annotations

from ..dockerfile import parse_stages
from .checks_base import check_args_vs_tag, check_base_pinned, check_tag_understood
from .checks_cuda import check_driver, check_index_cuda, check_published_builds
from .checks_pins import check_invalid_requirements, check_pins, check_unread_files
from .checks_python import check_copy_python, check_pip_interpreter, check_python_markers
from .checks_torch import (
    check_pypi_torch,
    check_torch_pinned,
    check_torch_vs_base,
    check_wheel_suffix,
)
from .facts import Facts, load_facts
from .findings import Finding
from .image import build_image, build_stages

CHECKS = (
    check_base_pinned,
    check_torch_vs_base,
    check_args_vs_tag,
    check_torch_pinned,
    check_tag_understood,
    check_wheel_suffix,
    check_index_cuda,
    check_driver,
    check_published_builds,
    check_pypi_torch,
    check_pip_interpreter,
    check_copy_python,
    check_python_markers,
    check_pins,
    check_unread_files,
    check_invalid_requirements,
)


def analyze(
    dockerfile_text: str,
    requirements: dict[str, str],
    *,
    dockerfile_name: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    facts: Facts | None = None,
) -> list[Finding]:
    """Every finding for a Dockerfile and the requirement files (name -> text) it installs,
    ordered by code."""
    facts = facts or load_facts()
    try:
        dfs = parse_stages(dockerfile_text, build_args)
    except (ValueError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        return [
            Finding(
                "TS100",
                "error",
                f"cannot analyse: {message}",
                "give every ARG a FROM line uses a default (or pass --build-arg), close "
                "continuations and heredocs",
                dockerfile_name,
                manual="the Dockerfile must parse first: a value only its author knows, or a "
                "syntax error to correct",
            )
        ]
    image = build_image(dfs, requirements, dockerfile_name, facts)
    findings = [f for check in CHECKS for f in check(image)]
    return sorted(findings, key=lambda f: f.code)


def base_image_problems(
    dockerfile_text: str,
    requirements_text: str,
    cuda_builds: dict[str, tuple[str, ...]] | None = None,
    driver_max_cuda: str | None = None,
) -> list[str]:
    """The trainer image's rules as messages: every preflight finding, plus its own rule that the
    base is the official pytorch/pytorch (its Dockerfile trusts the base's torch build)."""
    default = load_facts()
    facts = Facts(
        driver_max_cuda or default.driver_max_cuda,
        cuda_builds if cuda_builds is not None else default.torch_cuda_builds,
    )
    findings = analyze(
        dockerfile_text,
        {"trainer/requirements.txt": requirements_text},
        dockerfile_name="trainer/Dockerfile",
        facts=facts,
    )
    # One requirements text by design: files it was not given (TS403) are the CLI's concern.
    problems = [f.message for f in findings if f.code != "TS403"]
    if not any(f.code == "TS100" for f in findings):
        base = build_stages(parse_stages(dockerfile_text))[-1].root
        if base.kind != "pytorch":
            problems.append(f"base image {base.repo!r} is not the official pytorch/pytorch")
    return problems
