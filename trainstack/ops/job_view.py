"""How `trainstack status` and `logs` draw a training job, whatever its kind: the progress bar,
each pod's line and problem, pods grouped under their replica or worker group, the diagnosis, and
the log stream with its progress line.

Every kind's module (pytorchjob.py, rayjob.py) formats through these, and jobs.py streams logs
through LogView, so they live here rather than in any of them: the import graph stays one-way.
"""

from __future__ import annotations

from typing import TextIO

from trainer import logline

BAR_WIDTH = 24


def render_progress(info: logline.Progress, width: int = BAR_WIDTH) -> str:
    total = max(info.max_steps, 1)
    done = min(info.step / total, 1.0)
    filled = int(round(done * width))
    parts = [
        f"step {info.step}/{info.max_steps} [{'#' * filled}{'-' * (width - filled)}] "
        f"{100 * done:3.0f}%"
    ]
    if info.loss is not None:
        parts.append(f"loss {info.loss:.4f}")
    if info.tokens_per_s is not None:
        parts.append(f"{info.tokens_per_s:,.0f} tok/s")
    if info.eta_s is not None:
        parts.append(f"ETA {logline.format_duration(info.eta_s)}")
    return " | ".join(parts)


BAD_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def pod_problem(pod) -> str | None:
    """What is wrong with a pod, in a few words; None for a healthy or a finished-ok pod."""
    st = pod.status
    if st is None:
        return None
    if st.phase == "Failed":
        why = f"{st.reason or ''} {st.message or ''}".strip() or next(
            (
                _exited(cs.state.terminated)
                for cs in st.container_statuses or []
                if cs.state and cs.state.terminated
            ),
            "",
        )
        return f"Failed: {why}".rstrip(": ")
    if st.phase == "Unknown":
        return "Unknown: its node stopped reporting"
    for cond in st.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            return f"{cond.reason or 'Unschedulable'}: {cond.message or ''}".strip()
    for cs in st.container_statuses or []:
        waiting = cs.state.waiting if cs.state else None
        if waiting and waiting.reason in BAD_WAITING:
            return f"{waiting.reason}: {(waiting.message or '')[:160]}".strip(": ")
        term = cs.state.terminated if cs.state else None
        if term and term.exit_code:
            return _exited(term)
        if cs.restart_count:
            last = cs.last_state.terminated if cs.last_state else None
            how = f", last exit {last.exit_code} ({last.reason or 'Error'})" if last else ""
            return f"restarted {cs.restart_count}x{how}"
    return None


def _exited(term) -> str:
    return f"exited {term.exit_code} ({term.reason or 'Error'})"


def _restarts(pod) -> int:
    return (
        sum(cs.restart_count or 0 for cs in (pod.status.container_statuses or []))
        if pod.status
        else 0
    )


def grouped_pod_lines(pods: list, headers: dict[str, str], group_of, order) -> list[str]:
    """Each group's header (in the spec's order) with its pods, then pods of a group the spec
    no longer names under that group's own name."""
    by_group: dict[str, list] = {}
    for pod in sorted(pods, key=order):
        by_group.setdefault(group_of(pod), []).append(pod)
    lines = []
    for group, header in headers.items():
        lines.append(f"  {header}")
        lines += ["    " + pod_line(p) for p in by_group.pop(group, [])]
    for group, rest in by_group.items():
        lines += [f"  {group}:"] + ["    " + pod_line(p) for p in rest]
    return lines


def format_progress(
    progress: logline.Progress | None, checkpoint: tuple[int, str | None] | None
) -> list[str]:
    lines = [f"  progress: {render_progress(progress)}"] if progress else []
    if checkpoint:
        step, path = checkpoint
        lines.append(f"  newest checkpoint: step {step}" + (f" ({path})" if path else ""))
    else:
        lines.append("  newest checkpoint: none in rank 0's log")
    return lines


def format_causes(causes: list | None, name: str, namespace: str | None) -> list[str]:
    """None: the job looked healthy, so nothing was classified; []: nothing known matched."""
    if causes is None:
        return []
    if not causes:
        return [
            f"diagnosis: no known cause matched; see `trainstack logs {name}` and "
            f"`kubectl -n {namespace} get events`"
        ]
    lines = ["diagnosis:"]
    for cause in causes:
        lines.append(f"  [{cause.code}] {cause.summary}")
        lines.append(f"    remedy: {cause.remedy}")
        if getattr(cause, "evidence", ""):
            lines.append(f"    seen: {cause.evidence}")
    return lines


def pod_line(pod) -> str:
    st = pod.status
    node = (pod.spec.node_name if pod.spec else None) or "(unscheduled)"
    problem = pod_problem(pod)
    text = (
        f"{pod.metadata.name:<28} {(st.phase if st else None) or '?':<9} node {node}  "
        f"restarts {_restarts(pod)}"
    )
    return text + (f"  <- {problem}" if problem else "")


# The trainer's lines are read by trainer/logline.py, which also writes them.
class LogView:
    """Writes a log stream: on a terminal, step lines redraw one progress line and other lines
    scroll above it; elsewhere (pipes, files, CI) every line passes through unchanged."""

    CLEAR = "\r\x1b[K"

    def __init__(self, out: TextIO, tty: bool):
        self.out, self.tty = out, tty
        self.bar: str | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        info = logline.parse(line) if self.tty else None
        if isinstance(info, logline.Progress):
            self.bar = render_progress(info)
            self.out.write(self.CLEAR + self.bar)
        elif self.bar is not None:
            self.out.write(f"{self.CLEAR}{line}\n{self.bar}")
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.out.write("\n")
            self.bar = None
        self.out.flush()
