"""The AWS side of `trainstack doctor`: the EKS control plane, its managed node groups, and the
interruption queue Karpenter polls with the EventBridge rules feeding it. The checks are pure
functions over boto3's describe_* dicts; `aws_results` makes the calls."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from components import versions
from components.karpenter import INTERRUPTION_EVENTS, interruption_queue_name

from .results import FAIL, WARN, DoctorError, Result, ok


def pick_cluster(names: list[str], requested: str | None, region: str) -> str:
    if requested:
        if requested not in names:
            listed = ", ".join(sorted(names)) or "none"
            raise DoctorError(f"no EKS cluster '{requested}' in {region} (clusters: {listed})")
        return requested
    if not names:
        raise DoctorError(
            f"no EKS cluster in {region}; pass --region, or deploy one with `pulumi up`"
        )
    if len(names) > 1:
        raise DoctorError(
            f"{len(names)} EKS clusters in {region}: {', '.join(sorted(names))}; "
            "choose one with --cluster NAME"
        )
    return names[0]


def _minor(version: str) -> tuple[int, int]:
    major, minor = str(version).split(".")[:2]
    return int(major), int(minor)


def check_cluster(desc: dict[str, Any]) -> list[Result]:
    """Status/health of the control plane and whether its version is one this project pins."""
    name, status = desc["name"], desc.get("status", "UNKNOWN")
    issues = (desc.get("health") or {}).get("issues") or []
    describe = f"aws eks describe-cluster --name {name} --query cluster.health"
    if issues:
        codes = "; ".join(f"{i.get('code')}: {i.get('message', '')}".strip() for i in issues)
        state = Result(
            "cluster",
            FAIL,
            f"{status} with health issues: {codes}",
            "a control plane with health issues may stop admitting nodes or pods",
            describe,
        )
    elif status == "ACTIVE":
        state = ok("cluster", f"{name} ACTIVE")
    elif status in ("CREATING", "UPDATING"):
        state = Result(
            "cluster",
            WARN,
            f"{status}",
            "the control plane is changing; node joins and `pulumi up` may stall",
            f"aws eks wait cluster-active --name {name}",
        )
    else:
        state = Result(
            "cluster",
            FAIL,
            f"status {status}",
            "only an ACTIVE cluster schedules training pods",
            describe,
        )

    version = str(desc.get("version", "?"))
    supported = versions.KUBERNETES_VERSIONS
    lowest = _minor(supported[0])
    try:
        have = _minor(version)
    except ValueError:
        have = (0, 0)
    upgrade = (
        f'set trainstack:cluster.kubernetesVersion to "{versions.KUBERNETES_DEFAULT}" '
        "in Pulumi.<stack>.yaml and `pulumi up` (EKS upgrades one minor at a time)"
    )
    if version in supported:
        ver = ok("kubernetes version", f"{version} (supported: {', '.join(supported)})")
    elif have < lowest:
        ver = Result(
            "kubernetes version",
            FAIL,
            f"{version} is older than {supported[0]}",
            "out of EKS support: extended-support fees, and the pinned Karpenter and "
            "operators are not tested against it",
            upgrade,
        )
    else:
        ver = Result(
            "kubernetes version",
            WARN,
            f"{version} is newer than {supported[-1]}, which this project pins and tests",
            "charts and operators pinned in components/versions.py may lag it",
            "add it to KUBERNETES_VERSIONS once `trainstack plan` and the tests pass",
        )
    return [state, ver]


def check_nodegroups(cluster: str, descs: list[dict[str, Any]]) -> list[Result]:
    """Managed node groups: the system group runs Karpenter and the operators."""
    if not descs:
        return [
            Result(
                "node groups",
                FAIL,
                "none",
                "the system node group runs Karpenter, CoreDNS and the operators; "
                "without it nothing schedules",
                "pulumi up",
            )
        ]
    out = []
    for ng in sorted(descs, key=lambda d: d["nodegroupName"]):
        name, status = ng["nodegroupName"], ng.get("status", "UNKNOWN")
        issues = (ng.get("health") or {}).get("issues") or []
        scaling = ng.get("scalingConfig") or {}
        size = (
            f"desired {scaling.get('desiredSize', '?')} (min {scaling.get('minSize', '?')}, "
            f"max {scaling.get('maxSize', '?')})"
        )
        label = f"node group {name}"
        describe = (
            f"aws eks describe-nodegroup --cluster-name {cluster} "
            f"--nodegroup-name {name} --query nodegroup.health"
        )
        if issues:
            codes = "; ".join(f"{i.get('code')}: {i.get('message', '')}".strip() for i in issues)
            out.append(
                Result(
                    label,
                    FAIL,
                    f"{status}, {codes}",
                    "nodes of this group fail to launch or join (capacity, subnet "
                    "addresses, IAM or launch template)",
                    describe,
                )
            )
        elif status == "ACTIVE":
            out.append(ok(label, f"ACTIVE, {size}"))
        elif status in ("CREATING", "UPDATING"):
            out.append(
                Result(
                    label,
                    WARN,
                    status,
                    "its nodes are being replaced or created",
                    f"aws eks wait nodegroup-active --cluster-name {cluster} "
                    f"--nodegroup-name {name}",
                )
            )
        else:
            out.append(
                Result(
                    label,
                    FAIL,
                    f"status {status}",
                    "the group is not running nodes as configured",
                    describe,
                )
            )
    return out


def detail_types(patterns: Iterable[str]) -> set[str]:
    """The `detail-type`s of EventBridge rule patterns (JSON strings)."""
    found: set[str] = set()
    for text in patterns:
        try:
            pattern = json.loads(text or "{}")
        except json.JSONDecodeError:
            continue
        kinds = pattern.get("detail-type") or []
        found.update([kinds] if isinstance(kinds, str) else kinds)
    return found


def check_interruption_rules(queue: str, covered: set[str]) -> Result:
    wanted = {detail for _, detail in INTERRUPTION_EVENTS.values()}
    missing = sorted(wanted - covered)
    why = (
        "without these rules spot reclaims and maintenance reach Karpenter late or never, "
        "and a job loses its pods mid-step instead of checkpointing on SIGTERM"
    )
    if not missing:
        return ok("interruption rules", f"{len(wanted)} EventBridge rules target {queue}")
    if len(missing) == len(wanted):
        return Result(
            "interruption rules",
            FAIL,
            f"no enabled EventBridge rule targets {queue}",
            why,
            "pulumi up (the Karpenter component creates them)",
        )
    return Result("interruption rules", WARN, f"missing: {', '.join(missing)}", why, "pulumi up")


def check_interruption_queue(sqs, events, cluster: str) -> list[Result]:
    """The SQS queue Karpenter polls, and the EventBridge rules that feed it."""
    from botocore.exceptions import ClientError

    name = interruption_queue_name(cluster)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            return [
                Result(
                    "interruption queue",
                    FAIL,
                    f"{name} not found",
                    "Karpenter's settings.interruptionQueue names it: the controller "
                    "logs errors and spot interruptions go unhandled",
                    "pulumi up (or `aws sqs list-queues --queue-name-prefix "
                    f"{cluster}` to see what exists)",
                )
            ]
        raise
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    patterns = []
    for rule in _paginate(events, "list_rule_names_by_target", "RuleNames", TargetArn=arn):
        desc = events.describe_rule(Name=rule)
        if desc.get("State", "ENABLED") == "ENABLED":
            patterns.append(desc.get("EventPattern", ""))
    return [ok("interruption queue", name), check_interruption_rules(name, detail_types(patterns))]


def _paginate(client, op: str, key: str, **kwargs) -> list:
    return [item for page in client.get_paginator(op).paginate(**kwargs) for item in page[key]]


def list_clusters(eks) -> list[str]:
    return _paginate(eks, "list_clusters", "clusters")


def aws_results(session, desc: dict[str, Any]) -> list[Result]:
    """Every AWS-side check of one cluster (its describe_cluster dict)."""
    name = desc["name"]
    eks = session.client("eks")
    groups = [
        eks.describe_nodegroup(clusterName=name, nodegroupName=g)["nodegroup"]
        for g in _paginate(eks, "list_nodegroups", "nodegroups", clusterName=name)
    ]
    return [
        *check_cluster(desc),
        *check_nodegroups(name, groups),
        *check_interruption_queue(session.client("sqs"), session.client("events"), name),
    ]
