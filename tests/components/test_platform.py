"""Graph assertions on the real program, run under the mock engine for the example stacks."""

import json
import re
from pathlib import Path

import pytest
from crd_mirror import lagging_groups
from support import inputs, plan, state

from components import dashboard_body, dashboard_check, storage
from components.cluster import access_policy_arn
from components.config import ConfigError
from components.job_contracts import ROLES
from components.karpenter import render_controller_policy
from trainstack.offline import plan as offline_plan
from trainstack.offline import plan_report, schemas
from trainstack.offline.secrets import is_secret, unwrap_secrets

ROOT = Path(__file__).resolve().parents[2]
MNG = "eks:index:ManagedNodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def releases(result) -> dict[str, dict]:
    return {r.inputs["name"]: unwrap_secrets(r.inputs) for r in result.plan.of_type(RELEASE)}


def by_name(result, type_) -> dict[str, dict]:
    return {r.name: unwrap_secrets(r.inputs) for r in result.plan.of_type(type_)}


@pytest.mark.usefixtures("pinned_crds")
@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stack_plans_and_every_kubernetes_object_validates(stack):
    result = plan(stack)
    assert result.schema_errors == {}
    # Every kind is checked, but a group CI's CRD mirror predates (tests/crd_mirror.py).
    assert {m["apiVersion"].split("/")[0] for m in result.unchecked} <= lagging_groups()
    # The stack's dashboard, as dashboard_body.py builds it, every query naming a published
    # metric (tests/components/test_dashboard.py checks the checker).
    (dashboard,) = result.plan.of_type("aws:cloudwatch/dashboard:Dashboard")
    planned = json.loads(dashboard.inputs["dashboardBody"])
    assert planned == dashboard_body.body(dashboard_body.spec_of(result.config))
    assert dashboard_check.problems(planned) == []
    kinds = sorted(m["kind"] for m in result.manifests)
    cfg = result.config
    pools, jobs = cfg.node_pools, cfg.training_jobs
    assert kinds == sorted(
        ["NodePool"] * len(pools)
        + ["EC2NodeClass"] * len(pools)
        + ["Namespace"]
        + ["ServiceAccount"] * cfg.artifacts.enabled  # the jobs' identity (artifacts.py)
        + ["PersistentVolumeClaim"] * len(cfg.volumes)
        # an fsx volume's file system, bound by a static PV (components/fsx.py)
        + ["PersistentVolume"] * sum(v.stack_lustre for v in cfg.volumes.values())
        # and the root-run Job that makes its root writable, in a namespace of its own, with a
        # PV and claim of its own (components/volume_prepare.py)
        + ["PersistentVolume", "PersistentVolumeClaim", "Job"]
        * sum(v.stack_lustre for v in cfg.volumes.values())
        + ["Namespace"] * any(v.stack_lustre for v in cfg.volumes.values())
        # that namespace's default deny, and the policy of each Job's contract, which allows
        # nothing either
        + ["NetworkPolicy"] * any(v.stack_lustre for v in cfg.volumes.values())
        + ["NetworkPolicy"] * sum(v.stack_lustre for v in cfg.volumes.values())
        + [{"pytorch": "PyTorchJob", "ray": "RayJob"}[j.framework] for j in jobs.values()]
        # default deny, then one per role of each job (job_contracts.ROLES, network_policy.py)
        + ["NetworkPolicy"] * (1 + sum(len(ROLES[j.framework]) for j in jobs.values()))
        # the training operator's hardened init-container template
        + ["ConfigMap"] * cfg.addons.training_operator.enabled
        + ["StorageClass"] * len(storage.needed_classes(cfg.volumes))
        # the job watcher (jobwatch_manifests.py): its identity, record, egress and Deployment,
        # and its cluster-wide read of nodes and their events
        + [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "NetworkPolicy",
            "Deployment",
        ]
        * (cfg.notifications.enabled and cfg.notifications.training_jobs)
        # each served model (components/serving.py): its Deployment, Service and policy, and the
        # serving identity's ServiceAccount when one reads its model from S3
        + ["Deployment", "Service", "NetworkPolicy"] * len(cfg.serving_jobs)
        + ["ServiceAccount"] * any(s.source.kind == "s3" for s in cfg.serving_jobs.values())
        # Kueue (components/kueue_objects.py): a flavor per pool and one for the Ray heads on
        # the system nodes, a ClusterQueue and LocalQueue per pool and team, the priorities
        + ["ResourceFlavor"] * (len(cfg.pools()) + cfg.addons.kuberay.enabled)
        + ["ClusterQueue", "LocalQueue"] * (len(cfg.pools()) + len(cfg.queues.teams))
        + ["WorkloadPriorityClass"] * len(cfg.queues.priorities)
    )


def test_components_are_typed_and_parented():
    result = plan()
    types = {r.type for r in result.plan.resources}
    for component in (
        "trainstack:platform:Platform",
        "trainstack:network:Network",
        "trainstack:cluster:Cluster",
        "trainstack:karpenter:Karpenter",
        "trainstack:gpu:GpuPlugins",
        "trainstack:operators:Operators",
    ):
        assert component in types
    root = result.plan.one("trainstack:platform:Platform")
    top_level = [
        r.name
        for r in result.plan.resources
        if r.parent == result.plan.stack_urn and not r.type.startswith("pulumi:providers:")
    ]
    assert top_level == [root.name]


def test_every_gpu_pool_is_tainted_and_labelled():
    result = plan()
    groups = by_name(result, MNG)
    gpu_groups = {n: g for n, g in groups.items() if not n.endswith("-system")}
    assert set(gpu_groups) == {"trainstack-eks-gpu-g4dn", "trainstack-eks-gpu-g5"}
    for name, g in gpu_groups.items():
        assert g["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
        assert g["labels"]["trainstack.io/gpu"] == "true"
        assert g["labels"]["trainstack.io/pool"] == name.removeprefix("trainstack-eks-")
        assert g["amiType"] == "AL2023_x86_64_NVIDIA"
    system = groups["trainstack-eks-system"]
    assert "taints" not in system and system["capacityType"] == "ON_DEMAND"
    assert system["amiType"] == "AL2023_x86_64_STANDARD"
    for pool in result.manifests:
        if pool["kind"] != "NodePool":
            continue
        spec = pool["spec"]["template"]
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in spec["spec"][
            "taints"
        ]
        assert spec["metadata"]["labels"]["trainstack.io/gpu"] == "true"


def test_node_groups_launch_with_imdsv2_and_encrypted_gp3():
    result = plan()
    templates = by_name(result, "aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == 3
    for lt in templates.values():
        assert lt["metadataOptions"]["httpTokens"] == "required"
        ebs = lt["blockDeviceMappings"][0]["ebs"]
        assert (ebs["volumeType"], ebs["encrypted"]) == ("gp3", "true")
    assert (
        templates["trainstack-eks-gpu-g5-lt"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 150
    )
    # Each group pins its own template at the version the template reports.
    for r in result.plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        group = inputs(result, MNG, r.name.removesuffix("-lt"))
        assert group["launchTemplate"] == {"id": r.id, "version": "1"}
        assert "diskSize" not in group  # EKS rejects diskSize beside a launch template


def test_karpenter_gets_the_real_cluster_and_queue_names():
    result = plan()
    values = releases(result)["karpenter"]["values"]
    assert values["settings"]["clusterName"] == "trainstack-dev"
    queue = {**inputs(result, "aws:sqs/queue:Queue"), **state(result, "aws:sqs/queue:Queue")}
    assert values["settings"]["interruptionQueue"] == queue["name"] == "trainstack-dev-karpenter"
    assert queue["messageRetentionSeconds"] == 300 and queue["sqsManagedSseEnabled"] is True
    policy = json.loads(inputs(result, "aws:sqs/queuePolicy:QueuePolicy")["policy"])
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # EventBridge may send for this stack's interruption rules only (not any rule anywhere).
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    # (The notifications component has a rule of its own, for image builds, sent to its topic.)
    rules = [
        r
        for r in result.plan.of_type("aws:cloudwatch/eventRule:EventRule")
        if "trainstack:karpenter:Karpenter$" in r.urn
    ]
    rule_arns = {r.state["arn"] for r in rules}
    assert set(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_arns
    patterns = [json.loads(r.inputs["eventPattern"]) for r in rules]
    detail_types = {p["detail-type"][0] for p in patterns}
    assert {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "AWS Health Event",
    } <= detail_types
    targets = [
        t
        for t in result.plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if "trainstack:karpenter:Karpenter$" in t.urn
    ]
    assert len(targets) == len(patterns)
    assert {t.inputs["arn"] for t in targets} == {queue["arn"]}
    chart = releases(result)["karpenter"]
    assert chart["version"].startswith("1.14.") and chart["skipCrds"] is True
    assert values["nodeSelector"]["trainstack.io/system"] == "true"
    # The controller needs its credentials (Pod Identity) and the CRDs before it starts.
    deps = next(
        r for r in result.plan.of_type(RELEASE) if r.inputs["name"] == "karpenter"
    ).dependencies
    for type_, name in (
        ("aws:eks/addon:Addon", "trainstack-eks-pod-identity-agent"),
        (
            "aws:eks/podIdentityAssociation:PodIdentityAssociation",
            "trainstack-karpenter-controller",
        ),
        ("aws:eks/accessEntry:AccessEntry", None),
        (RELEASE, "trainstack-karpenter-crd"),
    ):
        assert result.plan.one(type_, name).urn in deps


def test_karpenter_node_role_has_an_ec2_linux_access_entry_and_backs_every_node_class():
    result = plan()
    entry = inputs(result, "aws:eks/accessEntry:AccessEntry")
    assert entry["type"] == "EC2_LINUX"
    role = state(result, "aws:iam/role:Role", "trainstack-karpenter-node")
    assert entry["principalArn"] == role["arn"]
    assert entry["clusterName"] == "trainstack-dev"
    for nc in by_name(result, NODECLASS).values():
        assert nc["spec"]["role"] == role["name"]
        assert nc["spec"]["amiSelectorTerms"] == [{"alias": "al2023@v20260818"}]
        assert nc["spec"]["metadataOptions"]["httpTokens"] == "required"
        assert int(nc["spec"]["blockDeviceMappings"][0]["ebs"]["volumeSize"][:-2]) >= 100
        assert nc["spec"]["subnetSelectorTerms"] == [
            {"tags": {"karpenter.sh/discovery": "trainstack-dev"}}
        ]


def test_karpenter_controller_uses_pod_identity_and_a_cluster_scoped_policy():
    result = plan()
    assoc = inputs(
        result,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "trainstack-karpenter-controller",
    )
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kube-system", "karpenter")
    role = state(result, "aws:iam/role:Role", "trainstack-karpenter-controller")
    assert assoc["roleArn"] == role["arn"]
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(
        inputs(result, "aws:iam/rolePolicy:RolePolicy", "trainstack-karpenter-controller")["policy"]
    )
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert sids["AllowAPIServerEndpointDiscovery"]["Resource"].endswith(":cluster/trainstack-dev")
    assert sids["AllowScopedDeletion"]["Condition"]["StringEquals"] == {
        "aws:ResourceTag/kubernetes.io/cluster/trainstack-dev": "owned"
    }
    node_role = state(result, "aws:iam/role:Role", "trainstack-karpenter-node")
    assert sids["AllowPassingInstanceRole"]["Resource"] == node_role["arn"]
    # Every write to EC2 is conditioned on this cluster's tags.
    for sid in (
        "AllowScopedEC2InstanceActionsWithTags",
        "AllowScopedResourceCreationTagging",
        "AllowScopedResourceTagging",
        "AllowScopedDeletion",
    ):
        assert "trainstack-dev" in json.dumps(sids[sid]["Condition"])


def test_node_pool_limits_come_from_config():
    result = plan()
    pools = {m["metadata"]["name"]: m["spec"] for m in result.manifests if m["kind"] == "NodePool"}
    assert pools["small"]["limits"] == {"nvidia.com/gpu": 4, "nodes": 4}
    assert pools["large"]["limits"] == {"nvidia.com/gpu": 64, "nodes": 16}
    assert pools["small"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert pools["small"]["template"]["spec"]["requirements"][0] == {
        "key": "karpenter.k8s.aws/instance-family",
        "operator": "In",
        "values": ["g5", "g4dn"],
    }
    raised = plan(**{"trainstack:karpenter__nodePools__small__maxGpus": 6})
    pools = {m["metadata"]["name"]: m["spec"] for m in raised.manifests if m["kind"] == "NodePool"}
    assert pools["small"]["limits"]["nvidia.com/gpu"] == 6


def _all_inputs(result) -> dict[tuple[str, str], dict]:
    return {(r.type, r.name): unwrap_secrets(r.inputs) for r in result.plan.resources}


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from _diff(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def test_changing_one_node_count_changes_exactly_that_input():
    before = _all_inputs(plan())
    after = _all_inputs(plan(**{"trainstack:nodeGroups__gpu-g5__maxSize": 8}))
    assert before.keys() == after.keys()
    changes = [(key, path, a, b) for key in before for path, a, b in _diff(before[key], after[key])]
    # ... and the quota of the pool's queue, which is its ceiling (components/config/queues.py):
    # 2 -> 8 g5.xlarge, of 1 GPU, 4 vCPUs and 16 GiB each; its room for Ray heads follows.
    queue = (
        "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue",
        "trainstack-kueue-clusterqueue-gpu-g5",
    )
    assert [c for c in changes if c[0] != queue] == [
        ((MNG, "trainstack-eks-gpu-g5"), ".scalingConfig.maxSize", 2, 8)
    ]
    flavors = ".spec.resourceGroups[0].flavors"
    assert [(p, a, b) for k, p, a, b in changes if k == queue][:3] == [
        (f"{flavors}[0].resources[0].nominalQuota", "8", "32"),
        (f"{flavors}[0].resources[1].nominalQuota", "32Gi", "128Gi"),
        (f"{flavors}[0].resources[2].nominalQuota", 2, 8),
    ]


def test_toggled_off_addons_declare_nothing():
    full = releases(plan())
    assert set(full) == {
        "karpenter-crd",
        "karpenter",
        "nvidia-device-plugin",
        "kuberay-operator",
        "kueue",
    }
    assert plan().plan.of_type("kubernetes:kustomize/v2:Directory")
    off = plan(
        **{
            "trainstack:addons": {
                "nvidiaDevicePlugin": {"enabled": False},
                "trainingOperator": {"enabled": False},
                "kuberay": {"enabled": False},
            },
            "trainstack:trainingJobs": {},
        }
    )  # jobs need the operator; without one Kueue has no kind to queue
    assert set(releases(off)) == {"karpenter-crd", "karpenter"}
    assert off.plan.of_type("kubernetes:kustomize/v2:Directory") == []
    no_karpenter = plan(
        **{
            "trainstack:karpenter__enabled": False,
            "trainstack:trainingJobs__llama-1b__nodePool": "gpu-g5",
            "trainstack:trainingJobs__llama-1b__nodes": 2,
        }
    )
    assert [
        r.name
        for r in no_karpenter.plan.resources
        if "karpenter" in r.type.lower() or "karpenter" in r.name
    ] == []
    assert "karpenter" not in releases(no_karpenter)


def test_efa_only_where_asked():
    dev, efa = plan("dev"), plan("efa")
    assert "aws-efa-k8s-device-plugin" not in releases(dev)
    assert dev.plan.of_type("aws:ec2/placementGroup:PlacementGroup") == []
    values = releases(efa)["aws-efa-k8s-device-plugin"]["values"]
    assert values["supportedInstanceLabels"] == {"keys": ["trainstack.io/efa"], "values": ["true"]}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    nvidia = releases(efa)["nvidia-device-plugin"]["values"]
    assert nvidia["mofedEnabled"] is False
    group = inputs(efa, MNG, "trainstack-eks-gpu-g5-efa")
    assert group["labels"]["trainstack.io/efa"] == "true"
    # One zone: a cluster placement group cannot span zones.
    private = [r for r in efa.plan.of_type("aws:ec2/subnet:Subnet") if "private" in r.name]
    zone_a = next(s for s in private if s.name.endswith("us-west-2a"))
    assert group["subnetIds"] == [zone_a.id]
    lt = inputs(efa, "aws:ec2/launchTemplate:LaunchTemplate", "trainstack-eks-gpu-g5-efa-lt")
    pg_name = "trainstack-eks-gpu-g5-efa-pg"
    pg = {
        **inputs(efa, "aws:ec2/placementGroup:PlacementGroup", pg_name),
        **state(efa, "aws:ec2/placementGroup:PlacementGroup", pg_name),
    }
    assert pg["strategy"] == "cluster" and lt["placement"]["groupName"] == pg["name"]
    assert [n["interfaceType"] for n in lt["networkInterfaces"]] == ["efa"]
    sg = inputs(efa, "aws:ec2/securityGroup:SecurityGroup", "trainstack-eks-gpu-g5-efa-efa")
    assert sg["ingress"][0]["self"] is True and sg["ingress"][0]["protocol"] == "-1"
    pool = next(m for m in efa.manifests if m["kind"] == "NodePool")
    assert pool["spec"]["template"]["metadata"]["labels"]["trainstack.io/efa"] == "true"


def test_network_tags_subnets_for_karpenter_and_internal_load_balancers():
    result = plan()
    subnets = by_name(result, "aws:ec2/subnet:Subnet")
    private = {n: s for n, s in subnets.items() if "-private-" in n}
    assert len(private) == 2
    for s in private.values():
        assert s["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert s["tags"]["karpenter.sh/discovery"] == "trainstack-dev"
        assert s["mapPublicIpOnLaunch"] is False
    assert len(result.plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    endpoints = by_name(result, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert [e["serviceName"] for e in endpoints.values()] == ["com.amazonaws.us-west-2.s3"]
    vpc = result.plan.one("aws:ec2/vpc:Vpc", "trainstack-net-vpc").id
    default = inputs(result, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default["vpcId"] == vpc and default["ingress"] == [] == default["egress"]
    flow = inputs(result, "aws:ec2/flowLog:FlowLog")
    assert flow["vpcId"] == vpc and flow["trafficType"] == "REJECT"
    assert flow["logDestination"].endswith(":log-group:/aws/vpc/trainstack-dev/flow-logs")
    trust = json.loads(
        inputs(result, "aws:iam/role:Role", "trainstack-net-flow-logs")["assumeRolePolicy"]
    )["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    efa = plan("efa")
    assert len(efa.plan.of_type("aws:ec2/natGateway:NatGateway")) == 3
    services = {
        e["serviceName"].rsplit(".", 1)[-1]
        if "ecr" not in e["serviceName"]
        else e["serviceName"].split("us-west-2.")[1]
        for e in by_name(efa, "aws:ec2/vpcEndpoint:VpcEndpoint").values()
    }
    assert services == {"s3", "ecr.api", "ecr.dkr", "sts", "sqs", "ec2"}


def test_cluster_is_private_encrypted_logged_and_uses_access_entries():
    result = plan()
    cluster = inputs(result, "eks:index:Cluster")
    assert cluster["authenticationMode"] == "API"
    assert cluster["endpointPrivateAccess"] is True
    assert cluster["publicAccessCidrs"] == ["203.0.113.0/24"]
    key = "trainstack-eks-secrets"
    assert inputs(result, "aws:kms/key:Key", key)["enableKeyRotation"] is True
    assert cluster["encryptionConfigKeyArn"] == state(result, "aws:kms/key:Key", key)["arn"]
    logs = inputs(result, "aws:cloudwatch/logGroup:LogGroup", "trainstack-eks-logs")
    assert logs == {**logs, "name": "/aws/eks/trainstack-dev/cluster", "retentionInDays": 30}
    addons = {a["addonName"]: a for a in by_name(result, "aws:eks/addon:Addon").values()}
    assert set(addons) == {
        "eks-pod-identity-agent",
        "aws-ebs-csi-driver",
        "coredns",
        "aws-efs-csi-driver",  # the dev stack has an EFS volume
        "eks-node-monitoring-agent",  # nodeHealth.monitoringAgent, on by default
        "amazon-cloudwatch-observability",  # observability.enabled, on by default
    }
    system = result.plan.one(MNG, "trainstack-eks-system").urn
    for addon in (
        "trainstack-eks-coredns",
        "trainstack-eks-ebs-csi",
        "trainstack-eks-node-monitoring-agent",
        "trainstack-observability-addon",
    ):
        assert system in result.plan.one("aws:eks/addon:Addon", addon).dependencies
    assert (
        addons["aws-ebs-csi-driver"]["podIdentityAssociations"][0]["serviceAccount"]
        == "ebs-csi-controller-sa"
    )
    assert cluster["corednsAddonOptions"]["enabled"] is False  # added after the nodes instead
    assert cluster["useDefaultVpcCni"] is False
    # Without the agent the jobs namespace's NetworkPolicies are accepted and never enforced.
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    private = plan(**{"trainstack:cluster__endpoint": {"public": False}})
    assert inputs(private, "eks:index:Cluster")["endpointPublicAccess"] is False
    admins = plan(
        **{"trainstack:cluster__adminPrincipals": ["arn:aws:iam::123456789012:role/Admin"]}
    )
    entries = inputs(admins, "eks:index:Cluster")["accessEntries"]
    assert entries["admin-0"]["principalArn"] == "arn:aws:iam::123456789012:role/Admin"


def test_exports_what_a_user_needs_and_keeps_kubeconfig_secret():
    result = plan()
    out = result.plan.outputs
    assert out["clusterName"] == "trainstack-dev"
    assert out["gpuCeiling"] == 72
    assert set(out["nodePools"]) == {"small", "large"}
    assert set(out["nodeGroups"]) == {"gpu-g4dn", "gpu-g5"}
    assert "kubeconfig" in result.plan.secret_outputs
    assert out["interruptionQueue"] == "trainstack-dev-karpenter"


def test_bad_stack_config_fails_before_any_resource():
    with pytest.raises(ConfigError, match=r"trainstack:nodeGroups.gpu-g5.minSize = 9"):
        plan(**{"trainstack:nodeGroups__gpu-g5__minSize": 9})


def test_plan_writes_resources_and_manifests_with_secrets_masked(tmp_path):
    result = plan("dev")  # the session's, written here as `trainstack plan` writes it
    out = offline_plan.write(result, tmp_path / "dev")
    resources = json.loads((out / "resources.json").read_text())
    assert len(resources) == len(result.plan.resources)
    assert {"type", "name", "urn", "parent", "provider", "dependencies", "inputs"} <= set(
        resources[0]
    )
    pools = ("gpu-g4dn", "gpu-g5", "large", "small")
    assert sorted(p.name for p in (out / "manifests").iterdir()) == [
        *(f"clusterqueue-{p}.yaml" for p in pools),
        "clusterrole-trainstack-jobwatch.yaml",
        "clusterrolebinding-trainstack-jobwatch.yaml",
        "configmap-kubeflow-training-operator-pytorch-init.yaml",
        "configmap-training-jobwatch-state.yaml",
        "deployment-training-jobwatch.yaml",
        "ec2nodeclass-large.yaml",
        "ec2nodeclass-small.yaml",
        *(f"localqueue-training-{p}.yaml" for p in pools),
        "namespace-training.yaml",
        "networkpolicy-training-default-deny.yaml",
        "networkpolicy-training-job-llama-1b-pytorch.yaml",
        "networkpolicy-training-jobwatch.yaml",
        "nodepool-large.yaml",
        "nodepool-small.yaml",
        "persistentvolumeclaim-training-checkpoints.yaml",
        "pytorchjob-training-llama-1b.yaml",
        *(f"resourceflavor-{p}.yaml" for p in (*pools, "system")),
        "role-training-jobwatch.yaml",
        "rolebinding-training-jobwatch.yaml",
        "serviceaccount-training-jobwatch.yaml",
        "serviceaccount-training-training.yaml",
        "storageclass-efs-sc.yaml",
    ]
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["kubeconfig"] == "[secret]"
    # The pack config the rules ran with, for `pulumi up --policy-pack-config`.
    pack_config = json.loads((out / "policy-config.json").read_text())
    assert pack_config == result.policy_config
    assert pack_config["job-images-from-ecr"]["allowedRepositories"][0].endswith("/trainer")
    # One file per object: two namespaces' objects of one kind and name do not overwrite.
    efa = plan("efa")
    efa_out = offline_plan.write(efa, tmp_path / "efa")
    assert len(list((efa_out / "manifests").iterdir())) == len(efa.manifests)
    provider = result.plan.one("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    written = next(r for r in resources if r["type"] == "pulumi:providers:kubernetes")
    assert written["inputs"]["kubeconfig"] == "[secret]"
    assert "certificate-authority-data" not in (out / "resources.json").read_text()
    summary = plan_report.summary(result)
    assert "Maximum GPUs this stack can run: 72" in summary
    assert "$0.89/h idle ($651/month), $152.94/h with every pool at its ceiling" in summary
    assert "What an offline plan cannot know" in summary


# EKS access policies (EKS User Guide, "Review access policy permissions"): EKS-managed, not IAM
# policies; ARN arn:<partition>:eks::aws:cluster-access-policy/<name>.
EKS_ACCESS_POLICIES = {
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
}
ACCESS_POLICY_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):eks::aws:cluster-access-policy/(?P<name>\w+)$"
)


def test_admin_principals_get_an_eks_cluster_access_policy_arn():
    admins = plan(
        **{"trainstack:cluster__adminPrincipals": ["arn:aws:iam::123456789012:role/Admin"]}
    )
    entry = inputs(admins, "eks:index:Cluster")["accessEntries"]["admin-0"]
    association = entry["accessPolicies"]["cluster-admin"]
    match = ACCESS_POLICY_ARN.match(association["policyArn"])
    assert match, association["policyArn"]
    assert match["name"] == "AmazonEKSClusterAdminPolicy" and match["name"] in EKS_ACCESS_POLICIES
    assert match["partition"] == "aws"  # the mock's aws.getPartition answer
    assert association["accessScope"] == {"type": "cluster"}
    china = ACCESS_POLICY_ARN.match(access_policy_arn("aws-cn", "AmazonEKSClusterAdminPolicy"))
    assert china and china["partition"] == "aws-cn"


def test_node_groups_are_fixed_capacity_sized_by_config():
    before = plan()
    after = plan(**{"trainstack:nodeGroups__gpu-g5__desiredSize": 1})
    a, b = _all_inputs(before), _all_inputs(after)
    changes = [(key, path, x, y) for key in a for path, x, y in _diff(a[key], b[key])]
    assert changes == [((MNG, "trainstack-eks-gpu-g5"), ".scalingConfig.desiredSize", 0, 1)]
    assert inputs(after, MNG, "trainstack-eks-gpu-g5")["scalingConfig"] == {
        "minSize": 0,
        "desiredSize": 1,
        "maxSize": 2,
    }
    for group in before.plan.of_type(MNG):
        # pulumi-eks 4.4: ignoreScalingChanges makes the node group ignore desiredSize.
        assert not group.inputs.get("ignoreScalingChanges")
        assert not [k for k in group.options["ignoreChanges"] if "desiredSize" in k]
        # Nothing reads Cluster Autoscaler tags: the stack installs no Cluster Autoscaler.
        assert not [k for k in group.inputs.get("tags", {}) if "cluster-autoscaler" in k]
    for lt in before.plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert "cluster-autoscaler" not in json.dumps(lt.inputs)


def test_desired_size_outside_min_and_max_is_a_config_error():
    # EKS UpdateNodegroupConfig (botocore eks 2017-11-01): desiredSize within minSize..maxSize.
    with pytest.raises(
        ConfigError,
        match=r"trainstack:nodeGroups.gpu-g5.desiredSize = 3: "
        r"outside minSize 0 .. maxSize 2",
    ):
        plan(**{"trainstack:nodeGroups__gpu-g5__desiredSize": 3})
    with pytest.raises(
        ConfigError,
        match=r"trainstack:nodeGroups.system.desiredSize = 1: "
        r"outside minSize 2 .. maxSize 3",
    ):
        plan(**{"trainstack:nodeGroups__system__desiredSize": 1})


def _requirement(pool: dict, key: str) -> list[dict]:
    return [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]


def test_efa_pool_is_pinned_to_one_zone_and_a_cluster_placement_group():
    efa = plan("efa")
    manifests = {(m["kind"], m["metadata"]["name"]): m for m in efa.manifests}
    node_class, pool = manifests[("EC2NodeClass", "efa")], manifests[("NodePool", "efa")]
    pg_resource = efa.plan.one(
        "aws:ec2/placementGroup:PlacementGroup", "trainstack-karpenter-efa-pg"
    )
    pg = {**pg_resource.inputs, **pg_resource.state}
    assert pg["strategy"] == "cluster"
    assert node_class["spec"]["placementGroupSelector"] == {"name": pg["name"]}
    # Exactly one zone, and only that zone's subnet: the one the EFA node group uses too.
    zone = efa.config.efa_zone
    assert _requirement(pool, "topology.kubernetes.io/zone") == [
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
    ]
    subnet = next(
        r for r in efa.plan.of_type("aws:ec2/subnet:Subnet") if r.name.endswith(f"-private-{zone}")
    )
    assert node_class["spec"]["subnetSelectorTerms"] == [{"id": subnet.id}]
    assert inputs(efa, MNG, "trainstack-eks-gpu-g5-efa")["subnetIds"] == [subnet.id]
    # Valid against the v1.14.1 EC2NodeClass CRD, whose rules the validator does enforce.
    assert schemas.validate_object(node_class) == []
    both = json.loads(json.dumps(node_class))
    both["spec"]["placementGroupSelector"]["id"] = "pg-0123456789abcdef0"
    assert any("mutually exclusive" in e for e in schemas.validate_object(both))


def test_efa_zone_can_be_chosen_and_must_be_one_of_the_stacks_zones():
    # Zone names map to different physical zones per account: the EFA zone is configurable.
    default = plan("efa").config.zones()
    second = default[1]
    efa = plan("efa", **{"trainstack:network__efaZone": second})
    pool = next(
        m for m in efa.manifests if m["kind"] == "NodePool" and m["metadata"]["name"] == "efa"
    )
    assert _requirement(pool, "topology.kubernetes.io/zone")[0]["values"] == [second]
    subnet = next(
        r
        for r in efa.plan.of_type("aws:ec2/subnet:Subnet")
        if r.name.endswith(f"-private-{second}")
    )
    assert inputs(efa, MNG, "trainstack-eks-gpu-g5-efa")["subnetIds"] == [subnet.id]
    with pytest.raises(
        ConfigError,
        match=r"trainstack:network\.efaZone = 'us-west-2d': not one "
        r"of the stack's zones",
    ):
        plan("efa", **{"trainstack:network__efaZone": "us-west-2d"})


def test_non_efa_pools_select_every_zone_and_no_placement_group():
    dev = plan()
    for m in dev.manifests:
        if m["kind"] == "NodePool":
            assert _requirement(m, "topology.kubernetes.io/zone") == []
        if m["kind"] == "EC2NodeClass":
            assert "placementGroupSelector" not in m["spec"]
            assert m["spec"]["subnetSelectorTerms"] == [
                {"tags": {"karpenter.sh/discovery": "trainstack-dev"}}
            ]
    assert dev.plan.of_type("aws:ec2/placementGroup:PlacementGroup") == []


# The reference controller policy of karpenter-provider-aws v1.14.1, Sid -> actions
# (website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml at
# tag v1.14.1; the preview copy at that tag is identical).
KARPENTER_V1_14_1_POLICY = {
    "AllowScopedEC2InstanceAccessActions": {"ec2:RunInstances", "ec2:CreateFleet"},
    "AllowScopedEC2LaunchTemplateAccessActions": {"ec2:RunInstances", "ec2:CreateFleet"},
    "AllowScopedEC2InstanceActionsWithTags": {
        "ec2:RunInstances",
        "ec2:CreateFleet",
        "ec2:CreateLaunchTemplate",
    },
    "AllowScopedResourceCreationTagging": {"ec2:CreateTags"},
    "AllowScopedResourceTagging": {"ec2:CreateTags"},
    "AllowScopedDeletion": {"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"},
    "AllowPassingInstanceRole": {"iam:PassRole"},
    "AllowScopedInstanceProfileCreationActions": {"iam:CreateInstanceProfile"},
    "AllowScopedInstanceProfileTagActions": {"iam:TagInstanceProfile"},
    "AllowScopedInstanceProfileActions": {
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteInstanceProfile",
    },
    "AllowAPIServerEndpointDiscovery": {"eks:DescribeCluster"},
    "AllowInterruptionQueueActions": {"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
    "AllowZonalShiftStatusReadOnly": {"arc-zonal-shift:GetManagedResource"},
    "AllowRegionalReadActions": {
        "ec2:DescribeCapacityReservations",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribePlacementGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeSubnets",
    },
    "AllowSSMReadActions": {"ssm:GetParameter"},
    "AllowPricingReadActions": {"pricing:GetProducts"},
    "AllowUnscopedInstanceProfileListAction": {"iam:ListInstanceProfiles"},
    "AllowInstanceProfileReadActions": {"iam:GetInstanceProfile"},
}


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_karpenter_controller_policy_matches_the_v1_14_1_reference():
    result = plan("efa")
    policy = json.loads(
        inputs(result, "aws:iam/rolePolicy:RolePolicy", "trainstack-karpenter-controller")["policy"]
    )
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert {sid: _actions(s) for sid, s in sids.items()} == KARPENTER_V1_14_1_POLICY
    # The reference's scoping of the actions placement groups and health checks need.
    assert sids["AllowRegionalReadActions"]["Resource"] == "*"
    assert sids["AllowRegionalReadActions"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": "us-west-2"}
    }
    assert (
        "arn:aws:ec2:us-west-2:*:placement-group/*"
        in sids["AllowScopedEC2InstanceAccessActions"]["Resource"]
    )
    assert sids["AllowZonalShiftStatusReadOnly"]["Condition"] == {
        "StringEquals": {
            "arc-zonal-shift:ResourceIdentifier": sids["AllowAPIServerEndpointDiscovery"][
                "Resource"
            ]
        }
    }
    # Pure renderer, another partition: every ARN follows it.
    cn = json.dumps(
        render_controller_policy(
            cluster_name="c",
            region="cn-north-1",
            account="123456789012",
            partition="aws-cn",
            node_role_arn="arn:aws-cn:iam::123456789012:role/n",
            queue_arn="q",
        )
    )
    assert "arn:aws:" not in cn


def test_karpenter_controller_gets_its_region_from_helm_values_not_imds():
    for stack, overrides in (("dev", {}), ("dev", {"aws:region": "eu-west-1"})):
        result = plan(stack, **overrides)
        values = releases(result)["karpenter"]["values"]
        # karpenter chart v1.14.1 templates/deployment.yaml appends controller.env (a list of
        # EnvVar) to the controller container's env.
        env = values["controller"]["env"]
        assert isinstance(env, list) and all(set(e) == {"name", "value"} for e in env)
        assert [e["value"] for e in env if e["name"] == "AWS_REGION"] == [result.config.region]
    assert result.config.region == "eu-west-1"
