"""The Dockerfile preflight (imagebuild.preflight) on realistic image definitions, good and bad
(preflight_cases.SCENARIOS), and on the repository's own image with the real version facts."""

from __future__ import annotations

import pytest
from preflight_cases import (
    ARGS_DOCKERFILE,
    CU130,
    FACTS,
    GOOD_REQS,
    NVIDIA_2404,
    REQS,
    ROOT,
    SCENARIOS,
    image,
)

from components import versions
from imagebuild import cuda_versions, preflight
from imagebuild.preflight import Facts, analyze


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


def test_facts_are_the_versions_module():
    facts = preflight.load_facts()
    assert facts.driver_max_cuda == versions.NVIDIA_DRIVER_MAX_CUDA
    assert facts.torch_cuda_builds == versions.TORCH_CUDA_BUILDS
    # One source, imported by both the Pulumi program and the preflight: not a copy of it.
    assert versions.TORCH_CUDA_BUILDS is cuda_versions.TORCH_CUDA_BUILDS
    assert versions.NVIDIA_DRIVER_MAX_CUDA is cuda_versions.NVIDIA_DRIVER_MAX_CUDA


def test_pytorch_python_table_covers_the_pinned_releases():
    # The table is an inference (see PYTORCH_IMAGE_PYTHON); at least it must give an answer for
    # every release versions.py knows, or the TS30x checks silently stop running for them.
    for release in versions.TORCH_CUDA_BUILDS:
        assert preflight.read_base(f"pytorch/pytorch:{release}.0-cuda13.0-cudnn9-runtime").python
    # Its documented edge: 2.4 on, and no guess for older tags.
    assert preflight.read_base("pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime").python == "3.11"
    assert preflight.read_base("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime").python is None
