"""Why a CodeBuild build of the trainer image failed: the failed phase, the log tail from
CloudWatch, whether the cause is transient (worth the same build again) and the message
`pulumi up` shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

LOG_TAIL_LINES = 40

# Causes outside the source: the same build run again is expected to pass.
TRANSIENT_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"toomanyrequests",  # Docker Hub / registry pull rate limit
        r"RequestLimitExceeded",
        r"ThrottlingException|Throttling|Rate exceeded|SlowDown",
        r"Service Unavailable|ServiceUnavailable",
        r"i/o timeout",
        r"TLS handshake timeout",
        r"connection reset",
        r"Read timed out",
        r"Temporary failure in name resolution",
        r"CLIENT_ERROR: error while downloading",  # CodeBuild fetching the source bundle from S3
        r"RequestError: send request failed",
    )
)
# Look transient in a log tail but are the build's own problem: never retried.
REAL_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (r"no space left on device",))
# start_build refused for load, not for anything wrong with the request.


class BuildFailed(Exception):
    """The image could not be built; the message says where and why, with the log tail."""

    def __init__(
        self,
        message: str,
        *,
        build_id: str | None = None,
        phase: str | None = None,
        attempts: int = 0,
        transient: bool = False,
        log_tail: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.build_id = build_id
        self.phase = phase
        self.attempts = attempts
        self.transient = transient
        self.log_tail = log_tail


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def failed_phase(build: dict) -> tuple[str, str]:
    """(phase, "STATUS_CODE: message; ...") of the first phase that did not succeed."""
    for phase in build.get("phases") or []:
        if phase.get("phaseStatus") not in (None, "SUCCEEDED"):
            contexts = "; ".join(
                f"{c.get('statusCode', '')}: {c.get('message', '')}".strip(": ")
                for c in phase.get("contexts") or []
            )
            return phase.get("phaseType", "?"), contexts
    return build.get("currentPhase") or "?", ""


def log_tail(logs: Any, build: dict, lines: int = LOG_TAIL_LINES) -> tuple[tuple[str, ...], str]:
    """(last `lines` log lines, where to look if they could not be read)."""
    info = build.get("logs") or {}
    group, stream = info.get("groupName"), info.get("streamName")
    where = info.get("deepLink") or (
        f"CloudWatch log group {group}, stream {stream}"
        if group
        else f"the CodeBuild console, build {build.get('id')}"
    )
    if not (group and stream):
        return (), f"no CloudWatch log recorded for this build; see {where}"
    try:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
        )["events"]
    except ClientError as exc:
        return (), f"could not read the build log ({error_code(exc)}); see {where}"
    tail = tuple(e["message"].rstrip("\n") for e in events)
    return tail, "" if tail else f"the build log is empty; see {where}"


def is_transient(build: dict, tail: Iterable[str] = ()) -> bool:
    """True if the failure is expected to go away when the same build runs again."""
    if build.get("buildStatus") == "FAULT":  # CodeBuild's own internal error
        return True
    _phase, contexts = failed_phase(build)
    text = "\n".join([contexts, *tail])
    if any(p.search(text) for p in REAL_PATTERNS):
        return False
    return any(p.search(text) for p in TRANSIENT_PATTERNS)


def failure_message(
    build: dict, tail: tuple[str, ...], where: str, attempts: int, transient: bool
) -> str:
    if not build:  # every attempt was refused by start_build
        return (
            f"CodeBuild refused to start the trainer image build {attempts} times "
            f"(throttled or at its concurrent-build limit); run `pulumi up` again later"
        )
    phase, contexts = failed_phase(build)
    head = f"trainer image build {build.get('id')} {build.get('buildStatus')} in phase {phase}" + (
        f" ({contexts})" if contexts else ""
    )
    if transient:
        head += (
            f"; gave up after {attempts} attempts, each failing for a cause that looked "
            "transient (raise image.maxAttempts or run `pulumi up` again)"
        )
    elif attempts > 1:
        head += f" (attempt {attempts}; the earlier ones failed for transient causes)"
    body = f"last {len(tail)} lines of the build log:\n" + "\n".join(tail) if tail else where
    return f"{head}\n{body}"
