"""The CloudWatch Observability add-on (components/observability.py): every configuration key it
sets exists in the chart the pinned add-on packages and in the agent that chart runs (the facts
are held here, each with its upstream file and tag, so the test runs without those sources), the
agent's role allows what the agent calls and nothing else, and a job's pods reach the agent's EMF
port and nothing more of it, evaluated as the VPC CNI's policy agent enforces NetworkPolicies."""

from __future__ import annotations

import copy
import json

import pytest
from netpol_eval import ClusterModel, Pod, Service
from support import assert_rejected_naming_the_key, inputs, plan, stack_data

from components import aws_names, catalog, job_contracts, network_policy, observability, versions
from components.config import parse
from components.scheduling import GPU_TAINT, node_labels
from components.training_job import JobTarget, render
from trainer import cloudwatch_emf

CHART_TAG = "amazon-cloudwatch-observability-6.4.0"  # aws-observability/helm-charts
# charts/amazon-cloudwatch-observability/values.yaml at CHART_TAG: the keys set, their defaults.
CHART_VALUES = {
    "agent.config": None,  # null: the chart builds one with Application Signals on
    "containerLogs.enabled": True,
    "tolerations": [{"operator": "Exists"}],
    "dcgmExporter.affinity": "nodeAffinity on node.kubernetes.io/instance-type in a list",
}
# ... whose dcgmExporter.affinity list lacks these types of components/catalog.py.
CHART_DCGM_LACKS = {"p5.4xlarge"}
AGENT_TAG = (
    "v1.300070.0"  # aws/amazon-cloudwatch-agent; chart 6.4.0's agent.image.tag 1.300070.0b1586
)
# translator/translate/otel/common/common.go at AGENT_TAG: LogsKey, MetricsCollectedKey,
# KubernetesKey, EnhancedContainerInsights, EnableAcceleratedComputeMetric, Emf, ServiceAddress.
AGENT_KEYS = {
    "logs.metrics_collected.kubernetes.enhanced_container_insights",
    "logs.metrics_collected.kubernetes.accelerated_compute_metrics",
    "logs.metrics_collected.emf.service_address",
}
# translator/translate/otel/exporter/awsemf/kubernetes.go at AGENT_TAG: the performance events'
# log group (awsemf_default_kubernetes.yaml log_group_name).
PERFORMANCE_GROUP = "/aws/containerinsights/{ClusterName}/performance"


def leaves(values: dict, prefix: str = "", opaque: tuple[str, ...] = ()) -> set[str]:
    out = set()
    for k, v in values.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and path not in opaque:
            out |= leaves(v, f"{path}.", opaque)
        else:
            out.add(path)
    return out


def test_the_pin_is_the_chart_whose_keys_are_checked():
    assert versions.CLOUDWATCH_OBSERVABILITY_CHART_VERSION == CHART_TAG.rsplit("-", 1)[1]
    chart = versions.CLOUDWATCH_OBSERVABILITY_CHART_VERSION
    assert versions.CLOUDWATCH_OBSERVABILITY_ADDON_VERSION.startswith(f"v{chart}-eksbuild.")
    assert f"v{versions.CLOUDWATCH_AGENT_VERSION}" == AGENT_TAG


def test_every_value_set_is_a_key_of_the_pinned_chart():
    values = observability.addon_values(parse(*_dev()).observability)
    opaque = ("agent.config", "dcgmExporter.affinity")  # checked below, against their source
    assert leaves(values, opaque=opaque) <= set(CHART_VALUES)
    # Container logs off by default; the chart's default would ship every container's output.
    assert values["containerLogs"]["enabled"] is False and CHART_VALUES["containerLogs.enabled"]


def test_the_agent_config_uses_keys_the_pinned_agent_reads():
    config = observability.agent_config()
    assert leaves(config) == AGENT_KEYS
    k8s = config["logs"]["metrics_collected"]["kubernetes"]
    # GPU (DCGM) and EFA metric declarations need both (kubernetes.go getGPUMetricDeclarations,
    # getEFAMetricDeclarations); Application Signals is left out, so the chart's operator does
    # not auto-instrument every workload (templates/_helpers.tpl manager.modify-auto-monitor).
    assert k8s == {"enhanced_container_insights": True, "accelerated_compute_metrics": True}
    assert "application_signals" not in json.dumps(config)
    # A `tcp` service address: only the TCP receiver (pipeline/emf_logs/translator.go).
    address = config["logs"]["metrics_collected"]["emf"]["service_address"]
    assert address == f"tcp:0.0.0.0:{observability.EMF_PORT}"


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Kubernetes' ToleratesTaint: an empty key with Exists tolerates every taint."""
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == taint["key"] and (
            t.get("operator") == "Exists" or t.get("value") == taint["value"]
        ):
            return True
    return False


def test_the_agent_and_dcgm_exporter_run_on_every_gpu_node():
    values = observability.addon_values(parse(*_dev()).observability)
    assert _tolerates(values["tolerations"], GPU_TAINT)
    term = values["dcgmExporter"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"][0]["matchExpressions"][0]
    for name in catalog.GPU_INSTANCES:  # every GPU node carries the label the term selects
        assert node_labels("pool", gpu=True).get(term["key"]) in term["values"], name
    assert node_labels("system", gpu=False).get(term["key"]) not in term["values"]
    # Why not the chart's own list: it misses instance types the stack may launch.
    assert CHART_DCGM_LACKS <= set(catalog.GPU_INSTANCES)


def test_the_agent_may_write_its_own_log_groups_and_describe_its_instance_only():
    arns = [f"arn:aws:logs:us-west-2:1:log-group:/aws/containerinsights/c/{k}" for k in "ab"]
    doc = observability.render_agent_policy(arns)
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:DescribeTags",
        "ec2:DescribeVolumes",
    }
    logs, ec2 = doc["Statement"]
    assert logs["Resource"] == [r for a in arns for r in (a, f"{a}:*")]
    assert ec2["Resource"] == "*" and all(a.startswith("ec2:Describe") for a in ec2["Action"])
    # The stack creates the group the agent writes to, so it needs no CreateLogGroup.
    assert aws_names.container_insights_log_group("c", observability.PERFORMANCE) == (
        PERFORMANCE_GROUP.format(ClusterName="c")
    )


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_both_stacks_plan_the_add_on_with_its_identity_and_log_groups(stack):
    result = plan(stack)
    cfg = result.config
    addon = inputs(result, "aws:eks/addon:Addon", "trainstack-observability-addon")
    assert addon["addonName"] == observability.ADDON_NAME
    assert addon["addonVersion"] == versions.CLOUDWATCH_OBSERVABILITY_ADDON_VERSION
    assert json.loads(addon["configurationValues"]) == observability.addon_values(cfg.observability)
    (association,) = addon["podIdentityAssociations"]
    assert association["serviceAccount"] == observability.SERVICE_ACCOUNT
    groups = {
        inputs(result, "aws:cloudwatch/logGroup:LogGroup", r.name)["name"]: r
        for r in result.plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if r.name.startswith("trainstack-observability-")
    }
    cluster = cfg.cluster.name
    assert set(groups) == {
        aws_names.container_insights_log_group(cluster, k) for k in ("performance", "training")
    }
    for r in groups.values():
        assert r.plain_inputs["retentionInDays"] == cfg.cluster.log_retention_days
    policy = json.loads(
        inputs(result, "aws:iam/rolePolicy:RolePolicy", "trainstack-observability-agent")["policy"]
    )
    writes = policy["Statement"][0]["Resource"]
    assert {r.split(":log-group:")[1].removesuffix(":*") for r in writes} == set(groups)
    # Every trainer pod gets the agent's endpoint and the group its role may write.
    env = observability.trainer_env(cluster)
    assert env[cloudwatch_emf.ENV_LOG_GROUP] in groups
    for job in (m for m in result.manifests if m["kind"] in ("PyTorchJob", "RayJob")):
        for c in _containers(job):
            got = {e["name"]: e.get("value") for e in c["env"]}
            assert {k: got.get(k) for k in env} == env, job["metadata"]["name"]


def _containers(job: dict) -> list[dict]:
    spec = job["spec"]
    if job["kind"] == "PyTorchJob":
        return [
            c
            for r in spec["pytorchReplicaSpecs"].values()
            for c in r["template"]["spec"]["containers"]
        ]
    groups = spec["rayClusterSpec"]["workerGroupSpecs"]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def _dev(edit=None):
    data, region = stack_data("dev")
    data = copy.deepcopy(data)
    if edit:
        edit(data)
    return data, region


def test_without_observability_jobs_get_no_endpoint_and_no_way_to_the_agent():
    cfg = parse(*_dev(lambda d: d.update(observability={"enabled": False})))
    name, job = next(iter(cfg.training_jobs.items()))
    target = JobTarget(
        "training",
        "image@sha256:0",
        cfg.pools()[job.node_pool],
        job.checkpoint_volume,
        cfg.volumes[job.checkpoint_volume],
    )
    env = {e["name"] for c in _containers(render(name, job, target)) for e in c["env"]}
    assert not any(k.startswith("TRAINSTACK_EMF") or k == "TRAINSTACK_CLUSTER_NAME" for k in env)
    with_agent = JobTarget(**{**target.__dict__, "emf_env": observability.trainer_env("c")})
    env = {e["name"] for c in _containers(render(name, job, with_agent)) for e in c["env"]}
    assert cloudwatch_emf.ENV_ENDPOINT in env


def _world(emf: bool) -> tuple[ClusterModel, Pod, Service, Pod]:
    cfg = parse(*_dev())
    name, job = next(iter(cfg.training_jobs.items()))
    contracts = job_contracts.contracts(
        name, job, job_contracts.JobSetting(None, None, None, emf=emf)
    )
    policies = [network_policy.render_default_deny("training")]
    policies += [network_policy.render_contract(c, "training") for c in contracts]
    trainer = Pod("trainer", "training", dict(contracts[0].pods), "10.0.1.10", "10.0.1.5")
    # The agent in the host's network on the trainer's node and on another one, and a pod in
    # another namespace that merely carries the agent's labels.
    agents = [
        Pod(f"agent@{ip}", observability.NAMESPACE, observability.AGENT_SELECTOR, ip, ip, True)
        for ip in ("10.0.1.5", "10.0.2.5")
    ]
    imposter = Pod("imposter", "default", observability.AGENT_SELECTOR, "10.0.3.7", "10.0.3.5")
    service = Service(
        observability.AGENT, observability.NAMESPACE, observability.AGENT_SELECTOR, local=True
    )
    return ClusterModel(policies, [trainer, *agents, imposter]), trainer, service, imposter


def test_a_trainer_reaches_the_agents_emf_port_on_its_node_and_nothing_else_of_it():
    model, trainer, agent, imposter = _world(emf=True)
    port = observability.EMF_PORT
    assert model.allowed(trainer, agent, port, "TCP")
    assert model.backends(agent, trainer) == [p for p in model.pods if p.ip == trainer.node_ip]
    for other_port, proto in [(port, "UDP"), (4317, "TCP"), (4315, "TCP"), (2000, "TCP")]:
        assert not model.allowed(trainer, agent, other_port, proto)
    assert not model.allowed(trainer, imposter, port, "TCP")


def test_without_the_rule_the_agent_is_not_reached_even_on_its_own_node():
    """The policy agent sees the ClusterIP before kube-proxy rewrites it to the node's address,
    so the node exception does not open it: the rule is what does."""
    model, trainer, agent, _ = _world(emf=False)
    assert not model.allowed(trainer, agent, observability.EMF_PORT, "TCP")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("6.4.0", "should match pattern"),
        ("v3.0.0-eksbuild.1", "supports from v3.1.0"),
    ],
)
def test_a_bad_add_on_version_is_refused_naming_the_key(value, allowed):
    dev, _ = _dev()
    assert_rejected_naming_the_key(
        dev,
        "observability.addonVersion",
        value,
        "trainstack:observability.addonVersion",
        allowed,
    )


def test_container_logs_bring_their_log_groups_and_the_rights_to_write_them():
    on = parse(*_dev(lambda d: d.update(observability={"containerLogs": True}))).observability
    assert observability.addon_values(on)["containerLogs"]["enabled"] is True
    assert observability.log_group_kinds(on) == (
        "performance",
        "training",
        "application",
        "dataplane",
        "host",
    )
