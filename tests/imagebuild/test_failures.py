"""How a failed CodeBuild build is reported and judged transient or real
(imagebuild/failures.py), through the builder against moto and on build records directly."""

from __future__ import annotations

from pathlib import Path

import pytest
from builder_support import (  # noqa: F401  (fixtures: aws, src)
    FakeTime,
    aws_fixture,
    run_build,
    scripted,
    src_fixture,
    state,
    success_script,
)

from imagebuild import builder as image_builder
from imagebuild.builder import BuildFailed


def test_real_failure_raises_with_build_id_phase_and_log_tail(aws, src: Path):
    log = [f"log line {i}" for i in range(60)] + ["AssertionError: selftest: loss did not drop"]
    failure = state(
        "FAILED",
        "COMPLETED",
        failed="BUILD",
        log=log,
        contexts=[
            {
                "statusCode": "COMMAND_EXECUTION_ERROR",
                "message": "Error while executing command: docker run ... Reason: exit status 1",
            }
        ],
    )
    clients, codebuild = scripted(aws, [failure])
    fake = FakeTime()
    with pytest.raises(BuildFailed) as err:
        run_build(clients, src, fake)
    e = err.value
    build_id = codebuild.real.list_builds()["ids"][0]
    msg = str(e)
    assert e.build_id == build_id and build_id in msg
    assert e.phase == "BUILD" and "in phase BUILD" in msg and "COMMAND_EXECUTION_ERROR" in msg
    assert e.log_tail == tuple(log[-40:])
    assert "AssertionError: selftest: loss did not drop" in msg
    assert "log line 21" in msg and "log line 20\n" not in msg  # only the last 40 lines
    assert (e.attempts, e.transient) == (1, False)
    assert len(codebuild.started) == 1 and fake.backoffs == []


def test_no_space_left_is_not_retried_even_beside_transient_noise(aws, src: Path):
    failure = state(
        "FAILED",
        "COMPLETED",
        failed="BUILD",
        log=[
            "Retrying after connection reset by peer",
            "write /var/lib/docker: no space left on device",
        ],
    )
    clients, codebuild = scripted(aws, [failure], success_script())
    with pytest.raises(BuildFailed, match="no space left on device"):
        run_build(clients, src, FakeTime())
    assert len(codebuild.started) == 1


def test_missing_log_says_where_to_look(aws, src: Path):
    clients, codebuild = scripted(aws, [state("FAILED", "COMPLETED", failed="BUILD", logs=False)])
    with pytest.raises(BuildFailed) as err:
        run_build(clients, src, FakeTime())
    stream = codebuild.real.list_builds()["ids"][0].split(":", 1)[1]
    assert "no CloudWatch log recorded" in str(err.value)
    assert f"https://console.aws.amazon.com/cloudwatch/{stream}" in str(err.value)


@pytest.mark.parametrize(
    "build, tail, transient",
    [
        ({"buildStatus": "FAULT"}, (), True),
        (
            {
                "buildStatus": "FAILED",
                "phases": [
                    {
                        "phaseType": "BUILD",
                        "phaseStatus": "FAILED",
                        "contexts": [{"message": "RequestLimitExceeded"}],
                    }
                ],
            },
            (),
            True,
        ),
        ({"buildStatus": "FAILED"}, ("dial tcp: i/o timeout",), True),
        ({"buildStatus": "FAILED"}, ("net/http: TLS handshake timeout",), True),
        ({"buildStatus": "TIMED_OUT"}, ("ThrottlingException: Rate exceeded",), True),
        ({"buildStatus": "FAILED"}, ("ModuleNotFoundError: No module named 'trainer.x'",), False),
        ({"buildStatus": "TIMED_OUT"}, ("step 900/1000",), False),
        ({"buildStatus": "FAILED"}, ("i/o timeout", "no space left on device"), False),
    ],
)
def test_transient_or_real(build: dict, tail: tuple, transient: bool):
    assert image_builder.is_transient(build, tail) is transient
