"""The documents of notifications (components/notifications.py), as pure functions the tests
check: the EventBridge rule's event pattern and input transformer for CodeBuild builds, the
topic's KMS key policy and topic policy, and the watcher role's permissions.

AWS facts they follow:
- CodeBuild "Build State Change" events: source aws.codebuild, detail fields build-status
  (IN_PROGRESS, SUCCEEDED, FAILED, STOPPED), project-name, build-id (the build ARN),
  current-phase (the phase it ended in, e.g. BUILD; COMPLETED on success), additional-information
  (CodeBuild user guide, "Build notifications input format reference",
  codebuild/latest/userguide/sample-build-notifications.html).
- EventBridge and other AWS services can publish to an encrypted topic only under a customer
  managed key whose policy lets the service principal use it: kms:GenerateDataKey* and
  kms:Decrypt (SNS developer guide, "Enabling compatibility between event sources from AWS
  services and encrypted topics", sns/latest/dg/sns-key-management.html); the AWS managed
  alias/aws/sns key's policy cannot be changed.
- Publishing to an encrypted topic needs sns:Publish plus kms:GenerateDataKey and kms:Decrypt on
  its key (the same page, "Configuring AWS KMS permissions").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .runtime_contract import AwsAccess, render_identity_policy

# A role publishing to an encrypted topic: sns:Publish plus kms:GenerateDataKey and kms:Decrypt
# on its key (the SNS guide's "Configuring AWS KMS permissions"). The watcher's contract declares
# it (jobwatch_manifests.py); {topic} and {topic_key} are resolved by render_watcher_policy.
TOPIC_KEY = "{topic_key}"
WATCHER_ACCESS = (
    AwsAccess("Publish", ("sns:Publish",), ("{topic}",)),
    AwsAccess("TopicKey", ("kms:GenerateDataKey", "kms:Decrypt"), (TOPIC_KEY,)),
)

FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")  # one message per build that ends
EVENTS = "events.amazonaws.com"
EVENTS_KEY_ACTIONS = ["kms:GenerateDataKey*", "kms:Decrypt"]  # a service publishing (SNS guide)


def build_event_pattern(project: str) -> dict[str, Any]:
    return {
        "source": ["aws.codebuild"],
        "detail-type": ["CodeBuild Build State Change"],
        "detail": {"build-status": list(FINISHED), "project-name": [project]},
    }


BUILD_INPUT_PATHS = {
    "build": "$.detail.build-id",
    "project": "$.detail.project-name",
    "status": "$.detail.build-status",
    "phase": "$.detail.current-phase",
    "region": "$.region",
}


def build_input_template() -> str:
    """The message, a JSON string: EventBridge puts each <name> of BUILD_INPUT_PATHS in as is.
    The event carries the build as an ARN (`arn:...:build/<project>:<uuid>`) and a template
    cannot cut it down to the `<project>:<uuid>` the console's build page takes, so the link is
    to the project's build history, where the build id heads the list."""
    return (
        '"trainstack image build of <project>: <status> (in phase <phase>). Build <build>. '
        "Console: https://<region>.console.aws.amazon.com/codesuite/codebuild/projects/"
        '<project>/history?region=<region>"'
    )


def render_key_policy(account: str, partition: str, rule_arns: list[str]) -> dict[str, Any]:
    """The account administers the key (the default key policy's root statement); EventBridge
    may use it for this stack's rules only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if rule_arns:
        statements.append(
            {
                "Sid": "EventBridgePublishesToTheTopic",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS},
                "Action": EVENTS_KEY_ACTIONS,
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def render_topic_policy(topic_arn: str, account: str, rule_arns: list[str]) -> dict[str, Any]:
    """The topic owner's rights, and EventBridge publishing for this stack's rules only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnerManages",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:AddPermission",
                "sns:RemovePermission",
                "sns:DeleteTopic",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
                "sns:Publish",
            ],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }
    ]
    if rule_arns:
        statements.append(
            {
                "Sid": "EventBridgePublishes",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
            }
        )
    # TLS only, as the SNS developer guide's security best practices write it: a publish over
    # plain HTTP is refused (EventBridge and the watcher publish over TLS).
    statements.append(
        {
            "Sid": "DenyPublishWithoutTLS",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def render_watcher_policy(
    access: Sequence[AwsAccess], topic_arn: str, key_arn: str | None
) -> dict[str, Any]:
    """The watcher's role: what its contract declares (WATCHER_ACCESS, through
    jobwatch_manifests.contract), on this topic and key; nothing else."""
    return render_identity_policy(access, {"topic": topic_arn, "topic_key": key_arn})


def existing_topic_grants(
    topic_arn: str, key_arn: str | None, image_builds: bool, training_jobs: bool
) -> list[str]:
    """What the owner of an existing topic (notifications.topicArn) must allow, the stack having
    no say over that topic's and key's policies: what render_topic_policy and
    render_key_policy would grant on a topic of the stack's own, and the watcher's access."""
    ands = " and ".join
    grants = []
    if image_builds:
        grants.append(
            f"topic {topic_arn}: sns:Publish by {EVENTS} with aws:SourceArn the stack's rule "
            "(stack output notificationsBuildRule)"
        )
        if key_arn:
            grants.append(
                f"key {key_arn}: {ands(EVENTS_KEY_ACTIONS)} by {EVENTS} with the same "
                "aws:SourceArn (a customer managed key: the AWS managed alias/aws/sns cannot "
                "grant it)"
            )
    if training_jobs:
        key_actions = [a for s in WATCHER_ACCESS if TOPIC_KEY in s.resources for a in s.actions]
        on_key = f", and {ands(key_actions)} on {key_arn}" if key_arn else ""
        grants.append(
            f"the watcher's role (stack output notificationsWatcherRole): sns:Publish{on_key}. "
            "Its IAM policy grants these, which is enough in the topic's own account when the "
            "topic and key policies leave access to IAM (the default topic policy, a key policy "
            "with the account's root statement); a topic or key in another account must name "
            "the role"
        )
    if not key_arn:
        grants.append(
            "if the topic is encrypted, set notifications.topicKmsKeyArn to its key: without "
            "it nothing can publish to the topic"
        )
    return grants
