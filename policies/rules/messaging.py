"""Queues and the events that feed them: SQS messages are encrypted at rest, EventBridge
delivers only to the queues, topics and CodeBuild projects the stack itself declares, and SNS
delivers over TLS.

SQS encrypts at rest with an SQS-owned key (sqsManagedSseEnabled) or a KMS key
(kmsMasterKeyId); the FSBP SQS.1 control page accepts either. (SNS topics' key is storage.py's
sns-topic-encrypted.) An EventBridge target whose ARN is not one of the stack's queues or topics
would copy the account's Spot, health or build events somewhere the stack does not control; the
stack's one other target is its own image build, started by the nightly schedule
(components/image.py, image.nightlySchedule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, Rule, StackRule, truthy

QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PROJECT = "aws:codebuild/project:Project"


def _queue_encrypted(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if truthy(props.get("sqsManagedSseEnabled")) or props.get("kmsMasterKeyId"):
        return []
    return [
        (
            "the queue keeps messages unencrypted at rest: set sqsManagedSseEnabled: true (or "
            "kmsMasterKeyId to a KMS key)"
        )
    ]


def _subscription_tls(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # SNS delivers to an `http` endpoint in clear text (SNS developer guide, HTTP/S endpoints);
    # job notifications quote log lines, so they go to https (or email, sqs, lambda) only.
    if str(props.get("protocol") or "").lower() != "http":
        return []
    return ["the subscription delivers over plain HTTP: subscribe an https:// endpoint instead"]


def _known_arn(props: Mapping[str, Any], names: tuple[str, ...], arn: str) -> bool:
    if arn in names or arn == props.get("arn"):
        return True
    # A queue's or topic's ARN ends in its name (arn:<partition>:sqs|sns:<region>:<account>:<name>),
    # a CodeBuild project's in project/<name>.
    name = str(props.get("name") or "")
    return bool(name) and arn.endswith((":" + name, "/" + name))


def foreign_targets(resources: Sequence[Planned], cfg: Mapping[str, Any]) -> list[tuple[Any, str]]:
    stores = [(p, names) for _h, t, p, names in resources if t in (QUEUE, TOPIC, PROJECT)]
    out = []
    for handle, type_, props, names in resources:
        arn = str(props.get("arn") or "")
        if type_ != EVENT_TARGET or not arn:
            continue  # not known yet (a preview of a new stack)
        if arn in cfg["allowedTargets"]:
            continue
        if not any(_known_arn(p, n, arn) for p, n in stores):
            out.append(
                (
                    handle,
                    f"EventBridge target {names[0] if names else '?'} delivers to {arn}, which is "
                    "not a queue, topic or build project of this stack: target the stack's "
                    "own, or list it in this rule's allowedTargets",
                )
            )
    return out


RULES = [
    Rule(
        "sqs-encrypted",
        "SQS queues encrypt messages at rest (SSE-SQS or SSE-KMS).",
        MANDATORY,
        (QUEUE,),
        _queue_encrypted,
        controls=("FSBP SQS.1",),
    ),
    Rule(
        "sns-subscription-tls",
        "SNS subscriptions deliver over TLS (no plain http endpoint).",
        MANDATORY,
        (SUBSCRIPTION,),
        _subscription_tls,
    ),
]
STACK_RULES = [
    StackRule(
        "eventbridge-targets-in-stack",
        "EventBridge rules deliver only to queues, topics and build projects the stack declares.",
        MANDATORY,
        foreign_targets,
        # ARNs outside the stack it may deliver to: an existing notifications topic
        # (trainstack:notifications.topicArn), which the offline plan adds itself.
        config_schema={
            "allowedTargets": {"type": "array", "items": {"type": "string"}, "default": []}
        },
    ),
]
