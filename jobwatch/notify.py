"""The message about a job: subject and text, and publishing it to the SNS topic.

The text names the job, its namespace, what happened and, for a failure or restart, every cause
the classifier found (jobwatch/diagnose), each with its remedy and the evidence it matched, in
the form `trainstack diagnose` prints. Email subscribers see the subject as the mail's subject.
"""

from __future__ import annotations

from .diagnose import Cause, format_causes

# SNS Publish: a Subject is at most 100 ASCII characters, no line breaks (SNS API reference,
# Publish request parameters).
SUBJECT_MAX = 100
WHAT = {"Succeeded": "succeeded", "Failed": "failed", "Restarting": "restarted",
        "Retrying": "is retrying", "Stopped": "was stopped",
        "Hung": "is hung: no step progress", "RestartLoop": "is restarting in a loop",
        "NodeFault": "runs on a node with a GPU fault", "Preempted": "was preempted",
        "QueueWait": "is still waiting in its queue"}  # fmt: skip
# Keys whose part after `#` says something to a reader (a RayJob's attempt number); an
# incident's key (`Restarting#<pod uid>@<time>`), a hang's (`Hung#<step>`), a loop's
# (`RestartLoop#<time>`), a GPU fault's (`NodeFault#<node>/<reason>...`), a preemption's
# (`Preempted#<count>`) and a queue wait's (`QueueWait#<start>`) are only the record's.
SHOWN_SUFFIX = ("Retrying",)


def event_word(key: str) -> str:
    """`Restarting#2026-...` -> `restarted`."""
    return WHAT.get(key.split("#", 1)[0], key)


def subject(kind: str, name: str, namespace: str, key: str, causes: list[Cause]) -> str:
    text = f"trainstack: {kind} {namespace}/{name} {event_word(key)}"
    if causes:
        text += f" ({causes[0].code})"
    text = text.encode("ascii", "replace").decode()
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 3] + "..."


def message(
    kind: str,
    name: str,
    namespace: str,
    key: str,
    causes: list[Cause] | None,
    facts: list[str] | None = None,
) -> str:
    """`facts`: lines said before the causes (which pods failed, on which node)."""
    lines = [f"{kind} {name} in namespace {namespace} {event_word(key)}."]
    if "#" in key and key.split("#", 1)[0] in SHOWN_SUFFIX:
        lines.append(f"({key.split('#', 1)[0]} {key.split('#', 1)[1]})")
    lines += facts or []
    if causes is not None:
        lines += ["", "Cause:" if len(causes) == 1 else "Causes (most specific first):"]
        lines.append(format_causes(causes))
    lines += ["", f"More: trainstack status {name} -n {namespace}"]
    return "\n".join(lines)


class SnsPublisher:
    def __init__(self, topic_arn: str, sns):
        self.topic_arn, self.sns = topic_arn, sns

    def __call__(self, subject: str, text: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=text)
