"""Which of a job's pods is the current one, where an operator makes a new pod on each retry and
keeps the old ones (a RayJob's submitter, a TrainJob's node pods)."""

from __future__ import annotations


def newest_name(pods: list) -> str | None:
    """The name of the most recently created of `pods` (Kubernetes client objects); a pod not
    yet stamped counts as oldest, and the name breaks ties so the choice is stable."""
    if not pods:
        return None
    newest = max(
        pods,
        key=lambda p: (
            p.metadata.creation_timestamp is not None,
            p.metadata.creation_timestamp or 0,
            p.metadata.name,
        ),
    )
    return newest.metadata.name
