"""Is a job restarting in a loop? A pure rule over the times its pods failed (restarts.py keeps
them per job, from the pods the watcher saw fail and the operator's events), stdlib only.

A restart is told per incident (incidents.py groups the failures of 15 minutes into one message),
so a job that crashes every two minutes sends one message per quarter hour and nothing says it
will never get anywhere. This rule counts restarts instead: failures within `same_s` of each
other's first are one restart (the peers of a dead rank fail with it; those that fail only when
their collective times out, minutes later, count again, so `count` should allow for that), and
`count` restarts within `window_s` are a loop. A job that fails at a different step each time
looks the same here; the trainer's own crash-loop limit (trainer/crash_loop.py) stops a loop at
one step, and this tells the owner before that, or when the job keeps restarting otherwise.

One message per loop: its key carries the time of the restart that tipped it, and a loop already
told covers every restart after the first one of its window.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "RestartLoop#"


@dataclass(frozen=True)
class LoopRule:
    count: int = 3  # restarts ...
    window_s: float = 3600.0  # ... within this long are a loop
    # Failures this soon after a restart's first are that restart: shorter than a restart takes
    # (pod start, imports, rendezvous, restore), longer than ranks dying together take.
    same_s: float = 60.0


@dataclass(frozen=True)
class Loop:
    restarts: tuple[float, ...]  # the window's restarts, oldest first (each its first failure)

    @property
    def key(self) -> str:
        return f"{PREFIX}{int(self.restarts[-1])}"

    def covered(self, keys: list[str]) -> bool:
        """Whether a loop already told covers this one: told at or after its first restart."""
        told = [int(k[len(PREFIX) :]) for k in keys if k.startswith(PREFIX)]
        return any(t >= int(self.restarts[0]) for t in told)


def restarts(failures: list[float], same_s: float) -> list[float]:
    """The failure times grouped into restarts: each group's first time, oldest first."""
    out: list[float] = []
    for t in sorted(failures):
        if not out or t - out[-1] > same_s:
            out.append(t)
    return out


def judge(failures: list[float], now: float, rule: LoopRule) -> Loop | None:
    """The loop the job is in at `now`, or None: `rule.count` restarts or more in the window."""
    recent = [t for t in restarts(failures, rule.same_s) if now - t <= rule.window_s]
    return Loop(tuple(recent)) if len(recent) >= rule.count else None
