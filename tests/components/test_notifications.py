"""Notifications (components/notifications.py): the EventBridge rule matches this project's
CodeBuild builds that end and nothing else (moto's EventBridge pattern matcher), the watcher's
Kubernetes objects validate and are read-only, its AWS permissions stop at the topic, and the
config section's errors name their keys."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern
from support import ROOT, inputs, plan, stack_data

from components import jobwatch_manifests as manifests
from components.config import ConfigError, parse
from components.notification_policies import (
    BUILD_INPUT_PATHS,
    WATCHER_ACCESS,
    build_event_pattern,
    build_input_template,
    existing_topic_grants,
    render_key_policy,
    render_topic_policy,
    render_watcher_policy,
)
from jobwatch import fleet
from jobwatch import kinds as watched_kinds
from jobwatch.alarms import Settings
from jobwatch.progress import HungRule
from jobwatch.restart_loop import LoopRule
from policies import check_plan
from trainstack.cost import load_prices
from trainstack.offline import plan_report, schemas

PROJECT = "trainstack-efa-trainer"
ARN = "arn:aws:codebuild:us-west-2:123456789012:build/trainstack-efa-trainer:8a7e2f31-5c4b-4e77-9d2a-0f1e6b3c9a10"


def build_event(project: str = PROJECT, status: str = "FAILED", phase: str = "BUILD") -> dict:
    """A Build State Change event in the shape of the CodeBuild user guide's "Build
    notifications input format reference" (sample-build-notifications.html)."""
    return {
        "version": "0",
        "id": "bfdc1220-60ff-44ff-c6c8-2e1c7a2a0b5b",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": "123456789012",
        "time": "2026-11-25T09:41:12Z",
        "region": "us-west-2",
        "resources": [ARN.replace(PROJECT, project)],
        "detail": {
            "build-status": status,
            "project-name": project,
            "build-id": ARN.replace(PROJECT, project),
            "current-phase": phase,
            "current-phase-context": "[: COMMAND_EXECUTION_ERROR: Error while executing command]",
            "version": "1",
            "additional-information": {"build-complete": True, "initiator": "trainstack"},
        },
    }


def matches(event: dict) -> bool:
    return EventPattern.load(json.dumps(build_event_pattern(PROJECT))).matches_event(event)


def test_the_rule_matches_this_projects_finished_builds_only():
    assert matches(build_event())
    assert matches(build_event(status="SUCCEEDED", phase="COMPLETED"))
    assert not matches(build_event(project="someone-elses-project"))
    assert not matches(build_event(status="IN_PROGRESS", phase="PROVISIONING"))
    phase_change = build_event() | {"detail-type": "CodeBuild Build Phase Change"}
    assert not matches(phase_change)


def test_the_message_carries_build_phase_and_a_console_link():
    template = build_input_template()
    for name, path in BUILD_INPUT_PATHS.items():
        assert f"<{name}>" in template
        # Every path resolves in the recorded event.
        value = build_event()
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        assert value
    assert "console.aws.amazon.com/codesuite/codebuild/projects/<project>" in template
    json.loads(template.replace("<", "").replace(">", ""))  # a JSON string once filled in


def test_eventbridge_may_use_the_key_and_topic_for_this_rule_only():
    rule = "arn:aws:events:us-west-2:123456789012:rule/builds"
    key = render_key_policy("123456789012", "aws", [rule])["Statement"][1]
    assert key["Principal"] == {"Service": "events.amazonaws.com"}
    assert set(key["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert key["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule]}}
    topic = render_topic_policy("arn:aws:sns:us-west-2:123456789012:t", "123456789012", [rule])
    assert topic["Statement"][1]["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule]}}
    deny = topic["Statement"][-1]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sns:Publish")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(render_key_policy("123456789012", "aws", [])["Statement"]) == 1


def test_the_watcher_may_publish_to_its_topic_and_nothing_else():
    policy = render_watcher_policy(
        WATCHER_ACCESS, "arn:aws:sns:us-west-2:1:t", "arn:aws:kms:us-west-2:1:key/k"
    )
    actions = {
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
    assert {s["Resource"] for s in policy["Statement"]} == {
        "arn:aws:sns:us-west-2:1:t",
        "arn:aws:kms:us-west-2:1:key/k",
    }


def test_the_watchers_objects_validate_and_its_role_only_reads():
    objs = manifests.render_all(
        "training",
        "ecr/trainer@sha256:ab",
        "arn:aws:sns:us-west-2:1:t",
        ("trainstack.io/system", "true"),
        "10.0.0.0/16",
    )
    for obj in objs:
        assert schemas.validate_object(obj, "1.34") == [], obj["kind"]
    # Its cluster-scoped grant: reading nodes (the fleet figures, node conditions), the events
    # about them (the node monitoring agent's) and Kueue's ClusterQueues, nothing else.
    cluster_role = next(o for o in objs if o["kind"] == "ClusterRole")
    assert cluster_role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
        {"apiGroups": ["kueue.x-k8s.io"], "resources": ["clusterqueues"], "verbs": ["get", "list"]},
    ]
    binding = next(o for o in objs if o["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": manifests.NAME, "namespace": "training"}
    ]
    role = next(o for o in objs if o["kind"] == "Role")
    for rule in role["rules"]:
        writes = set(rule["verbs"]) - {"get", "list", "watch"}
        if writes:  # only its own record, by name
            assert writes == {"update"} and rule["resourceNames"] == [manifests.CONFIGMAP]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    # Every kind the watcher follows (jobwatch/kinds.py), and what it reads of them.
    followed = {k.plural for k in watched_kinds.KINDS}
    assert followed == {"pytorchjobs", "rayjobs", "trainjobs"}
    assert resources == followed | {"pods", "pods/log", "events", "configmaps",
                                    "workloads", "localqueues"}  # fmt: skip
    kueue = next(r for r in role["rules"] if r["apiGroups"] == ["kueue.x-k8s.io"])
    assert kueue["verbs"] == ["get", "list"]  # the queue alarms poll; nothing is watched
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"] == ["python", "-m", "jobwatch"]
    assert spec["nodeSelector"] == {"trainstack.io/system": "true"}
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two watchers


def stack(notifications: dict, image: bool = True) -> dict:
    data, _ = stack_data("dev")
    data["image"] = {**data.get("image", {}), "enabled": image}
    return {**data, "notifications": notifications}


@pytest.mark.parametrize(
    "section, image, expected",
    [
        (
            {"enabled": True, "emails": ["not-an-address"]},
            True,
            "trainstack:notifications.emails[0]",
        ),
        (
            {"enabled": True, "topicArn": "arn:aws:sqs:us-west-2:1:q"},
            True,
            "trainstack:notifications.topicArn",
        ),
        ({"enabled": True}, False, "trainstack:notifications.enabled = true: imageBuilds"),
        (
            {"enabled": True, "topicKmsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/abc"},
            True,
            "trainstack:notifications.topicKmsKeyArn: only with",
        ),
        (
            {"enabled": True, "alarms": {"hungFactor": 1}},
            True,
            "trainstack:notifications.alarms.hungFactor = 1: Input should be greater than or equal to 2",
        ),
        (
            {"enabled": True, "alarms": {"restartLoopWindowMinutes": "hourly"}},
            True,
            "trainstack:notifications.alarms.restartLoopWindowMinutes = 'hourly'",
        ),
        (
            {"enabled": True, "alarms": {"idleGpuPercent": 0}},
            True,
            "trainstack:notifications.alarms.idleGpuPercent = 0: Input should be greater than 0",
        ),
        (
            {"enabled": True, "alarms": {"idleGpuMinutes": 5}},
            True,
            "trainstack:notifications.alarms.idleGpuMinutes = 5: Input should be greater than or "
            "equal to 10",
        ),
        (
            {"enabled": True, "alarms": {"queueWaitMinutes": 2}},
            True,
            "trainstack:notifications.alarms.queueWaitMinutes = 2: Input should be greater than or "
            "equal to 5",
        ),
    ],
)
def test_config_errors_name_the_key(section, image, expected):
    with pytest.raises(ConfigError) as err:
        parse(stack(section, image))
    assert any(i.startswith(expected) for i in err.value.issues), err.value.issues


TOPIC = "arn:aws:sns:us-west-2:210987654321:ml-alerts"
KEY = "arn:aws:kms:us-west-2:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOTIFY = "trainstack-notifications"


def test_an_existing_topic_is_used_as_is_and_its_owner_is_told_what_to_allow():
    """With notifications.topicArn the stack creates no topic, key or topic policy (it cannot
    change another owner's); the rule's target, the watcher's publish policy and its Deployment
    point at that topic, and the plan tells the owner the grants the stack would otherwise have
    written itself (render_topic_policy, render_key_policy: EventBridge needs them, SNS
    developer guide sns-key-management.html)."""
    result = plan(
        "efa",
        **{
            "trainstack:notifications.topicArn": TOPIC,
            "trainstack:notifications.topicKmsKeyArn": KEY,
            "trainstack:notifications.alarms.hungFloorMinutes": 20,
            "trainstack:notifications.alarms.queueWaitMinutes": 90,
        },
    )
    made = {r.type for r in result.plan.resources if r.name.startswith(NOTIFY)}
    assert not made & {"aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:kms/key:Key"}
    # The pack lets EventBridge deliver to that topic because the plan's pack config (written
    # to policy-config.json for `pulumi up`) names it; without it the target is refused.
    assert result.mandatory_violations == []
    assert result.policy_config["eventbridge-targets-in-stack"] == {"allowedTargets": [TOPIC]}
    bare = {k: v for k, v in result.policy_config.items() if k != "eventbridge-targets-in-stack"}
    refused = [v for v in check_plan(result.plan.resources, bare) if v.mandatory]
    assert [v.rule for v in refused] == ["eventbridge-targets-in-stack"]
    assert "aws:cloudwatch/eventRule:EventRule" in made  # the build rule is still the stack's
    assert (
        inputs(result, "aws:cloudwatch/eventTarget:EventTarget", f"{NOTIFY}-builds")["arn"] == TOPIC
    )
    watcher = json.loads(
        inputs(result, "aws:iam/rolePolicy:RolePolicy", f"{NOTIFY}-watcher")["policy"]
    )
    assert watcher == render_watcher_policy((*WATCHER_ACCESS, *manifests.FLEET_ACCESS), TOPIC, KEY)
    # Its ARNs are the topic's and key's; "*" only for CloudWatch, whose actions take no ARN.
    assert {s["Resource"] for s in watcher["Statement"]} == {TOPIC, KEY, "*"}
    assert {a for s in watcher["Statement"] if s["Resource"] == "*" for a in s["Action"]} == {
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
    }
    deployment = inputs(result, "kubernetes:apps/v1:Deployment", f"{NOTIFY}-watcher")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "JOBWATCH_TOPIC_ARN", "value": TOPIC} in env
    # The alarms' settings, in the units jobwatch/alarms.py reads (its defaults but two).
    alarm_env = {e["name"]: e["value"] for e in env if e["name"].startswith("JOBWATCH_")}
    assert Settings.from_env(alarm_env) == Settings(
        HungRule(factor=10, floor_s=1200), LoopRule(count=3, window_s=3600), queue_wait_s=5400
    )
    # The fleet figures: this cluster, its pools, and the instance rows of the price table
    # `trainstack cost` reads, for the stack's region.
    fleet_settings = fleet.Settings.from_env(alarm_env)
    assert fleet_settings.cluster == result.config.cluster.name
    assert fleet_settings.pools == result.config.capacity_types_by_pool()
    prices = load_prices(result.config.region)
    assert dict(fleet_settings.prices.instances) == prices.instances
    assert fleet_settings.prices.date == prices.date
    assert result.plan.outputs["notificationsTopic"] == TOPIC
    assert (
        result.plan.outputs["notificationsBuildRule"]
        and result.plan.outputs["notificationsWatcherRole"]
    )

    text = plan_report.summary(result)
    assert f"to the existing topic {TOPIC}; the stack creates no topic or key" in text
    for grant in existing_topic_grants(TOPIC, KEY, True, True):
        assert f"  - {grant}" in text
    # The owner's grants are the statements the stack writes on a topic and key of its own.
    events_key = render_key_policy("1", "aws", ["rule"])["Statement"][1]
    events_topic = render_topic_policy(TOPIC, "1", ["rule"])["Statement"][1]
    assert f"key {KEY}: {' and '.join(events_key['Action'])} by events.amazonaws.com" in text
    assert (
        f"topic {TOPIC}: {events_topic['Action']} by events.amazonaws.com with aws:SourceArn"
        in text
    )
    assert "sns:Publish, and kms:GenerateDataKey and kms:Decrypt on " + KEY in text


def test_an_existing_topic_without_its_key_is_warned_about_and_docs_list_the_grants():
    grants = existing_topic_grants(TOPIC, None, image_builds=False, training_jobs=True)
    assert not any("events.amazonaws.com" in g for g in grants)  # no rule, no EventBridge grant
    assert any("notifications.topicKmsKeyArn" in g for g in grants)
    row = next(
        line
        for line in (ROOT / "docs" / "config.md").read_text().splitlines()
        if line.startswith("| `notifications` |")
    )
    for words in ("`sns:Publish` by `events.amazonaws.com`", "`aws:SourceArn`",
                  "`kms:GenerateDataKey*` and `kms:Decrypt`", "`notificationsBuildRule`",
                  "`notificationsWatcherRole`", "another account"):  # fmt: skip
        assert words in row


def test_operations_says_why_the_watcher_is_our_own_against_each_forwarder_looked_at():
    """The issue asked for a comparison with maintained event forwarders (docs/operations.md):
    each one with its version, and the questions it was judged on."""
    text = (ROOT / "docs" / "operations.md").read_text()
    why = text[text.index("### Why a watcher of our own") :].split("\n## ", 1)[0]
    for forwarder in ("kubernetes-event-exporter (resmoio, v1.7)", "Robusta (0.47.0)",
                      "Botkube (v1.14.0)", "Argo Events (v1.9.11)",
                      "kube-state-metrics (v2.20.0) + Alertmanager (v0.34.0)"):  # fmt: skip
        assert f"| {forwarder} |" in why
    header = next(line for line in why.splitlines() if line.startswith("| |"))
    for question in ("PyTorchJob / RayJob status", "Pod Identity", "remedy", "maintained"):
        assert question in header
    assert "pod-id-minimum-sdk.html" in why  # the SDK versions Pod Identity needs
