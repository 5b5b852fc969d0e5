"""AWS naming and format rules that botocore's service models do not carry, from AWS's docs.

Each rule is a function `value -> problem or None` with a one-line statement of the rule, and the
documentation page it follows.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentedRule:
    name: str
    rule: str  # the rule, stated for the user
    source: str  # the AWS documentation page it follows
    check: Callable[[str], str | None]

    def describe(self) -> str:
        return f"{self.rule} ({self.source})"

    def problem(self, value: object) -> str | None:
        return self.check(value) if isinstance(value, str) else None


# ---------------------------------------------------------------------------------- S3 buckets
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
# (general purpose buckets).
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _bucket_problem(name: str) -> str | None:
    if not 3 <= len(name) <= 63:
        return f"{len(name)} characters; allowed 3..63"
    if not _BUCKET_CHARS.fullmatch(name):
        return (
            "only lowercase letters, digits, '.' and '-', beginning and ending with a letter "
            "or digit"
        )
    if ".." in name:
        return "two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_BUCKET_RESERVED_PREFIXES):
        return f"begins with a reserved prefix ({', '.join(_BUCKET_RESERVED_PREFIXES)})"
    if name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return f"ends with a reserved suffix ({', '.join(_BUCKET_RESERVED_SUFFIXES)})"
    return None


S3_BUCKET = DocumentedRule(
    "s3-bucket-name",
    "S3 bucket name: 3..63 characters, lowercase letters, digits, '.' and '-', beginning and "
    "ending with a letter or digit, no '..', not an IP address, no reserved prefix or suffix",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
    _bucket_problem,
)

# ---------------------------------------------------------------------------------- SQS queues
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
# (QueueName: up to 80 characters, alphanumerics, '-' and '_'; a FIFO queue ends in ".fifo").


def _queue_problem(name: str) -> str | None:
    base = name.removesuffix(".fifo")
    if not 1 <= len(name) <= 80:
        return f"{len(name)} characters; allowed 1..80"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", base):
        return "only letters, digits, '-' and '_' (and a final '.fifo')"
    return None


SQS_QUEUE = DocumentedRule(
    "sqs-queue-name",
    "SQS queue name: 1..80 characters, letters, digits, '-' and '_', '.fifo' at the end of a "
    "FIFO queue",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
    _queue_problem,
)

# ----------------------------------------------------------------------------------- KMS alias
# https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html: the model carries
# the characters and length; the prefix rule is in the prose.


def _alias_problem(name: str) -> str | None:
    if not name.startswith("alias/"):
        return "does not begin with 'alias/'"
    if name.startswith("alias/aws/"):
        return "'alias/aws/' is reserved for AWS managed keys"
    return None


KMS_ALIAS = DocumentedRule(
    "kms-alias-prefix",
    "KMS alias name: begins with 'alias/', not 'alias/aws/'",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
    _alias_problem,
)

# ----------------------------------------------------------------- EventBridge schedule rules
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
# cron(Minutes Hours Day-of-month Month Day-of-week Year): six fields; one of day-of-month and
# day-of-week must be '?'. rate(value unit): a positive whole number, and the unit singular for
# 1 (minute, hour, day) and plural otherwise.
_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAYS = "SUN MON TUE WED THU FRI SAT".split()
# Per field: (name, low, high, names, special characters beyond , - * /).
_CRON_FIELDS = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _DAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)


def _cron_field_problem(
    text: str, name: str, low: int, high: int, names: tuple[str, ...], special: str
) -> str | None:
    if text == "?":
        return None if "?" in special else f"{name} cannot be '?'"
    for item in text.split(","):
        if item == "*":
            continue
        atom = item.upper()
        if "L" in special:
            atom = re.sub(r"(?<=\d)L$|^L$", "", atom) or "1"  # 'L' and '5L' (last)
        if "W" in special:
            atom = re.sub(r"(?<=\d)W$", "", atom)  # '15W' (nearest weekday)
        if "#" in special and "#" in atom:
            day, _, nth = atom.partition("#")
            if not (nth.isdigit() and 1 <= int(nth) <= 5):
                return f"{name} {item!r}: '#' takes the week 1..5"
            atom = day
        start, slash, step = atom.partition("/")
        if slash and not step.isdigit():
            return f"{name} {item!r}: '/' takes a whole number"
        for value in start.split("-") if start != "*" else []:
            number = (
                names.index(value) + 1
                if value in names
                else (int(value) if value.isdigit() else None)
            )
            if number is None or not low <= number <= high:
                allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
                return f"{name} {item!r}: allowed {allowed}, ',', '-', '*', '/'" + (
                    ", " + ", ".join(repr(c) for c in special) if special else ""
                )
    return None


def _schedule_problem(expr: str) -> str | None:
    if m := re.fullmatch(r"rate\((\d+) ([a-z]+)\)", expr):
        value, unit = int(m[1]), m[2]
        if value < 1:
            return "a rate must be a positive whole number"
        base = unit.removesuffix("s")
        if base not in ("minute", "hour", "day"):
            return f"rate unit {unit!r}: allowed minute(s), hour(s), day(s)"
        want = base if value == 1 else base + "s"
        return None if unit == want else f"rate({value} {unit}): write rate({value} {want})"
    if m := re.fullmatch(r"cron\(([^)]*)\)", expr):
        fields = m[1].split()
        if len(fields) != 6:
            return (
                f"cron has {len(fields)} fields; EventBridge takes six: minutes hours "
                "day-of-month month day-of-week year, e.g. cron(0 3 * * ? *)"
            )
        for text, spec in zip(fields, _CRON_FIELDS):
            if problem := _cron_field_problem(text, *spec):
                return problem
        if (fields[2] == "?") == (fields[4] == "?"):
            return "exactly one of day-of-month and day-of-week must be '?'"
        return None
    return "expected cron(<6 fields>) or rate(<value> <unit>)"


SCHEDULE_EXPRESSION = DocumentedRule(
    "eventbridge-schedule",
    "EventBridge schedule: cron(minutes hours day-of-month month day-of-week year) with one of "
    "the day fields '?', or rate(<n> minute|minutes|hour|hours|day|days), singular for 1",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html",
    _schedule_problem,
)

# ------------------------------------------------------------------------- EKS node groups
# botocore's eks model carries no constraint on CreateNodegroup.nodegroupName; the EKS User
# Guide ("Create a managed node group") states it, and terraform-provider-aws
# (internal/service/eks/node_group.go) bounds the name at 63 and a prefix at 63 - 26.


def _node_group_problem(name: str) -> str | None:
    if not 1 <= len(name) <= 63:
        return f"{len(name)} characters; allowed 1..63"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        return "only letters, digits, '-' and '_', beginning with a letter or digit"
    return None


EKS_NODE_GROUP = DocumentedRule(
    "eks-node-group-name",
    "EKS node group name: 1..63 characters, letters, digits, '-' and '_', beginning with a "
    "letter or digit",
    "https://docs.aws.amazon.com/eks/latest/userguide/create-managed-node-group.html",
    _node_group_problem,
)


# (Pulumi type, input) -> documented rule. `bucket` also covers the name the provider makes
# from `bucketPrefix` (see names.py).
RULES: dict[tuple[str, str], DocumentedRule] = {
    ("aws:s3/bucket:Bucket", "bucket"): S3_BUCKET,
    ("aws:s3/bucketV2:BucketV2", "bucket"): S3_BUCKET,
    ("aws:sqs/queue:Queue", "name"): SQS_QUEUE,
    ("aws:kms/alias:Alias", "name"): KMS_ALIAS,
    ("aws:cloudwatch/eventRule:EventRule", "scheduleExpression"): SCHEDULE_EXPRESSION,
    ("eks:index:ManagedNodeGroup", "nodeGroupName"): EKS_NODE_GROUP,
    ("aws:eks/nodeGroup:NodeGroup", "nodeGroupName"): EKS_NODE_GROUP,
}
