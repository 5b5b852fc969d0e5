"""The kinds of training job `trainstack status` and `logs` know, in the order a name is looked up
(a stack's trainingJobs entry renders as any one kind; components/training_job.py's KINDS table).

Adding a kind: one module beside pytorchjob.py and rayjob.py whose `KIND` (a job_kind.JobKind)
says where the objects are, how to read their state, which pods are theirs, where rank 0's log is
and how `status` draws them; and one row in `KINDS` below. jobs.py needs no change.
"""

from __future__ import annotations

from . import pytorchjob, rayjob, trainjob
from .job_kind import Job, JobKind

KINDS: tuple[JobKind, ...] = (pytorchjob.KIND, rayjob.KIND, trainjob.KIND)


def kind_of(job: Job) -> JobKind:
    """The kind of a job object as the API returned it (jobs.get_job sets `kind` if absent)."""
    for kind in KINDS:
        if kind.kind == job.get("kind"):
            return kind
    known = ", ".join(k.kind for k in KINDS)
    raise ValueError(f"not a training job kind trainstack knows: {job.get('kind')!r} ({known})")
