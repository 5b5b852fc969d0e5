"""Node health without a plan: the monitoring agent add-on's configuration against the add-on's
schema at the pinned v1.7.0, where its pods land, the node-repair transform, Karpenter's
NodeRepair gate in the chart values, the `nodeHealth` config, and the watcher's RBAC and
setting for it. The planned resources are checked in test_cluster_addons.py."""

from __future__ import annotations

import json
import re

import pytest
from support import stack_data

from components import config, jobwatch_manifests, versions
from components.karpenter import chart_values
from components.node_health import NODE_GROUP, agent_values, node_repair
from components.scheduling import GPU_TAINT, node_labels
from jobwatch.alarms import ENV_NODE_REPAIR, Settings

# aws/eks-node-monitoring-agent v1.7.0 charts/configuration.schema.json: the keys each object
# allows (every one declares additionalProperties: false).
SCHEMA_KEYS = {
    "": {"global", "nodeAgent", "dcgmAgent", "extraObjects"},
    "nodeAgent": {
        "affinity", "additionalArgs", "podAnnotations", "podLabels", "nodeSelector",
        "priorityClassName", "probePort", "resources", "resizePolicy", "tolerations", "monitors",
    },
    "dcgmAgent": {
        "affinity", "podAnnotations", "podLabels", "nodeSelector", "priorityClassName",
        "resources", "resizePolicy", "tolerations",
    },
}  # fmt: skip
# The taints the stack's nodes carry, and those a failing node gets (node lifecycle controller).
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Kubernetes' matching (core/v1 Toleration.ToleratesTaint): an empty key with Exists
    matches every taint; an empty effect matches every effect."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if not t.get("key"):
            if t.get("operator") == "Exists":
                return True
            continue
        if t["key"] != taint["key"]:
            continue
        if t.get("operator") == "Exists" or t.get("value") == taint.get("value"):
            return True
    return False


def selects(affinity: dict, labels: dict[str, str]) -> bool:
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return any(
        all(labels.get(e["key"]) in e["values"] for e in term["matchExpressions"])
        for term in terms["nodeSelectorTerms"]
    )


def test_the_agent_configuration_uses_only_keys_of_the_add_on_schema():
    values = json.loads(json.dumps(agent_values()))  # what configurationValues carries
    assert set(values) <= SCHEMA_KEYS[""]
    for part in ("nodeAgent", "dcgmAgent"):
        assert set(values[part]) <= SCHEMA_KEYS[part], part


def test_the_agent_runs_on_gpu_and_system_nodes_and_dcgm_on_gpu_nodes_only():
    agent, dcgm = agent_values()["nodeAgent"], agent_values()["dcgmAgent"]
    for taint in (GPU_TAINT, NOT_READY):
        assert tolerates(agent["tolerations"], taint), taint
    # The DCGM host engine the GPU monitor reads: on every GPU pool, despite its taint ...
    assert tolerates(dcgm["tolerations"], GPU_TAINT)
    for pool, gpu in (("gpu-g5", True), ("small", True), ("system", False)):
        assert selects(dcgm["affinity"], node_labels(pool, gpu=gpu)) is gpu, pool
    # ... and the chart's own default (no tolerations) would not have run there.
    assert not tolerates([], GPU_TAINT)


def test_the_repair_transform_sets_the_node_group_and_only_it():
    import pulumi

    def run(transform, type_):
        args = pulumi.ResourceTransformArgs(
            True, type_, "g", {"nodeGroupName": "g"}, pulumi.ResourceOptions()
        )
        return transform(args)

    on = run(node_repair(True), NODE_GROUP)
    assert on.props == {"nodeGroupName": "g", "nodeRepairConfig": {"enabled": True}}
    # Off is written, not left out: a group that had repair turns it off on `pulumi up`.
    assert run(node_repair(False), NODE_GROUP).props["nodeRepairConfig"] == {"enabled": False}
    assert run(node_repair(True), "eks:index:ManagedNodeGroup") is None
    assert run(node_repair(True), "aws:ec2/launchTemplate:LaunchTemplate") is None


@pytest.mark.parametrize("repair", [True, False])
def test_karpenter_node_repair_gate_follows_auto_repair(repair):
    values = chart_values(
        cluster_name="c", queue_name="q", region="us-west-2", system_label=("s", "true"),
        replicas=1, node_repair=repair,
    )  # fmt: skip
    # charts/karpenter v1.14.1 values.yaml settings.featureGates.nodeRepair (default false);
    # the other gates are left to the chart's defaults.
    assert values["settings"]["featureGates"] == {"nodeRepair": repair}
    assert values["settings"]["clusterName"] == "c"


def test_node_health_config_defaults_on_and_checks_the_agent_build():
    cfg = config.NodeHealthConfig()
    assert cfg.monitoring_agent and cfg.auto_repair
    assert cfg.agent_version == versions.NODE_MONITORING_AGENT_VERSION
    assert re.fullmatch(r"v1\.7\.0-eksbuild\.\d+", versions.NODE_MONITORING_AGENT_VERSION)
    off = config.NodeHealthConfig.model_validate({"autoRepair": False, "monitoringAgent": False})
    assert not off.auto_repair and not off.monitoring_agent
    # In the stack file, under its key, with the stack's messages.
    with pytest.raises(config.ConfigError) as err:
        config.parse({**stack_data("dev")[0], "nodeHealth": {"agentVersion": "1.7.0", "x": 1}})
    text = "\n".join(err.value.issues)
    assert "trainstack:nodeHealth.agentVersion = '1.7.0'" in text
    assert "trainstack:nodeHealth.x: unknown key" in text and "autoRepair" in text


def test_the_watcher_reads_nodes_cluster_wide_and_knows_whether_repair_is_on():
    role = jobwatch_manifests.render_cluster_role()
    assert role["rules"][:2] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    ]  # and Kueue's ClusterQueues (test_notifications.py)
    binding = jobwatch_manifests.render_cluster_role_binding("training")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": jobwatch_manifests.NAME, "namespace": "training"}
    ]
    for repair in (True, False):
        deployment = jobwatch_manifests.render_deployment(
            "training", "img", "arn:t", ("s", "true"), node_repair=repair
        )
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        settings = Settings.from_env({e["name"]: e["value"] for e in env})
        assert settings.node_repair is repair
    with pytest.raises(ValueError, match=ENV_NODE_REPAIR):
        Settings.from_env({ENV_NODE_REPAIR: "yes"})
