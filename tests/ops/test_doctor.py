"""`trainstack doctor`: AWS checks against moto, Kubernetes checks on client model objects, and
the fetch layer against a local HTTP server speaking the API's JSON. Every check fails once."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from fake_apiserver import FakeApiServer, from_routes, serve, write_kubeconfig
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from moto import mock_aws
from urllib3.exceptions import MaxRetryError

from components.karpenter import INTERRUPTION_EVENTS
from trainstack import cli
from trainstack.ops import doctor, kube
from trainstack.ops.doctor import FAIL, OK, WARN

REGION = "us-west-2"
CLUSTER = "ts-dev"


# ------------------------------------------------------------------------------ AWS (moto)


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def make_cluster(session, name=CLUSTER, version="1.34", queue=True, rules=None):
    """A cluster as `pulumi up` leaves it: system node group, interruption queue and rules."""
    eks = session.client("eks")
    desc = eks.create_cluster(
        name=name,
        version=version,
        roleArn="arn:aws:iam::123456789012:role/cluster",
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
    )
    eks.create_nodegroup(
        clusterName=name,
        nodegroupName="system",
        nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=["subnet-1"],
        scalingConfig={"minSize": 2, "maxSize": 3, "desiredSize": 2},
    )
    if queue:
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName=f"{name}-karpenter")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = session.client("events")
        for rule, (source, detail) in INTERRUPTION_EVENTS.items():
            if rules is not None and rule not in rules:
                continue
            events.put_rule(
                Name=f"{name}-{rule}",
                EventPattern=json.dumps({"source": [source], "detail-type": [detail]}),
            )
            events.put_targets(
                Rule=f"{name}-{rule}", Targets=[{"Id": "KarpenterInterruptionQueue", "Arn": arn}]
            )
    return desc["cluster"]


def by_name(results):
    return {r.name: r for r in results}


def test_aws_checks_pass_on_a_deployed_cluster(aws):
    desc = make_cluster(aws)
    results = doctor.aws_results(aws, desc)
    assert [r.status for r in results] == [OK] * len(results), doctor.render(results)
    names = by_name(results)
    assert set(names) == {
        "cluster",
        "kubernetes version",
        "node group system",
        "interruption queue",
        "interruption rules",
    }
    assert "min 2, max 3" in names["node group system"].detail


def test_missing_interruption_queue_fails(aws):
    desc = make_cluster(aws, queue=False)
    queue = by_name(doctor.aws_results(aws, desc))["interruption queue"]
    assert queue.status == FAIL and f"{CLUSTER}-karpenter not found" in queue.detail
    assert "interruptionQueue" in queue.why


def test_interruption_rules_none_fail_some_warn(aws):
    desc = make_cluster(aws, rules=[])
    assert by_name(doctor.aws_results(aws, desc))["interruption rules"].status == FAIL
    desc = make_cluster(aws, name="other", rules=["spot-interruption", "health"])
    rules = by_name(doctor.aws_results(aws, desc))["interruption rules"]
    assert rules.status == WARN and "EC2 Instance Rebalance Recommendation" in rules.detail


def test_disabled_rule_counts_as_missing(aws):
    desc = make_cluster(aws, rules=["spot-interruption"])
    aws.client("events").disable_rule(Name=f"{CLUSTER}-spot-interruption")
    assert by_name(doctor.aws_results(aws, desc))["interruption rules"].status == FAIL


def test_cluster_status_health_and_version():
    base = {"name": CLUSTER, "status": "ACTIVE", "version": "1.34", "health": {"issues": []}}
    assert [r.status for r in doctor.check_cluster(base)] == [OK, OK]
    failed = doctor.check_cluster({**base, "status": "FAILED"})[0]
    assert failed.status == FAIL and failed.fix
    assert doctor.check_cluster({**base, "status": "UPDATING"})[0].status == WARN
    sick = doctor.check_cluster(
        {
            **base,
            "health": {
                "issues": [{"code": "Ec2SubnetNotFound", "message": "subnet-1 was deleted"}]
            },
        }
    )[0]
    assert sick.status == FAIL and "Ec2SubnetNotFound" in sick.detail
    old = doctor.check_cluster({**base, "version": "1.29"})[1]
    assert old.status == FAIL and "kubernetesVersion" in old.fix
    assert doctor.check_cluster({**base, "version": "1.36"})[1].status == WARN


def test_node_group_health_issue_and_absence():
    group = {
        "nodegroupName": "system",
        "status": "DEGRADED",
        "health": {
            "issues": [
                {"code": "AsgInstanceLaunchFailures", "message": "InsufficientInstanceCapacity"}
            ]
        },
    }
    result = doctor.check_nodegroups(CLUSTER, [group])[0]
    assert result.status == FAIL and "AsgInstanceLaunchFailures" in result.detail
    assert "describe-nodegroup" in result.fix
    degraded = doctor.check_nodegroups(CLUSTER, [{**group, "health": {"issues": []}}])[0]
    assert degraded.status == FAIL
    assert doctor.check_nodegroups(CLUSTER, [])[0].status == FAIL


def test_cluster_choice():
    assert doctor.pick_cluster(["a"], None, REGION) == "a"
    with pytest.raises(doctor.DoctorError, match="a, b; choose one with --cluster"):
        doctor.pick_cluster(["b", "a"], None, REGION)
    with pytest.raises(doctor.DoctorError, match=r"no EKS cluster 'c'.*a, b"):
        doctor.pick_cluster(["a", "b"], "c", REGION)
    with pytest.raises(doctor.DoctorError, match="no EKS cluster in"):
        doctor.pick_cluster([], None, REGION)


# ----------------------------------------------------------------- Kubernetes model objects


def meta(name, namespace=None, labels=None):
    return k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels)


def node(name, *, gpu=0, efa=None, labels=None, ready=True):
    alloc = {"cpu": "30", "memory": "120Gi"}
    if gpu:
        alloc["nvidia.com/gpu"] = str(gpu)
    if efa is not None:
        alloc["vpc.amazonaws.com/efa"] = str(efa)
    cond = k8s.V1NodeCondition(type="Ready", status="True" if ready else "False")
    return k8s.V1Node(
        metadata=meta(name, labels=labels or {}),
        status=k8s.V1NodeStatus(allocatable=alloc, conditions=[cond]),
    )


def gpu_node(name, gpu=4, efa=None, **kw):
    labels = {"trainstack.io/pool": "g5", "trainstack.io/gpu": "true"}
    if efa is not None:
        labels["trainstack.io/efa"] = "true"
    return node(name, gpu=gpu, efa=efa, labels=labels, **kw)


SYSTEM = node("sys-1", labels={"trainstack.io/pool": "system", "trainstack.io/system": "true"})


def crd(name, established=True):
    plural, group = name.split(".", 1)
    spec = k8s.V1CustomResourceDefinitionSpec(
        group=group,
        scope="Namespaced",
        names=k8s.V1CustomResourceDefinitionNames(kind=plural.title(), plural=plural),
        versions=[k8s.V1CustomResourceDefinitionVersion(name="v1", served=True, storage=True)],
    )
    cond = k8s.V1CustomResourceDefinitionCondition(
        type="Established", status="True" if established else "False"
    )
    return k8s.V1CustomResourceDefinition(
        metadata=meta(name),
        spec=spec,
        status=k8s.V1CustomResourceDefinitionStatus(
            conditions=[cond], accepted_names=spec.names, stored_versions=["v1"]
        ),
    )


ALL_CRDS = [crd(n) for n in doctor.REQUIRED_CRDS]
TEMPLATE = k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c")]))
SELECTOR = k8s.V1LabelSelector(match_labels={"app": "x"})


def deployment(namespace, name, replicas=1, ready=1):
    return k8s.V1Deployment(
        metadata=meta(name, namespace),
        spec=k8s.V1DeploymentSpec(replicas=replicas, selector=SELECTOR, template=TEMPLATE),
        status=k8s.V1DeploymentStatus(replicas=replicas, ready_replicas=ready),
    )


def daemonset(namespace, name, desired, ready):
    return k8s.V1DaemonSet(
        metadata=meta(name, namespace),
        spec=k8s.V1DaemonSetSpec(selector=SELECTOR, template=TEMPLATE),
        status=k8s.V1DaemonSetStatus(
            current_number_scheduled=desired,
            desired_number_scheduled=desired,
            number_misscheduled=0,
            number_ready=ready,
        ),
    )


def healthy(nodes=None, **changes):
    """Objects of a working cluster: two GPU nodes (one with EFA), every component ready."""
    nodes = nodes if nodes is not None else [SYSTEM, gpu_node("g-1"), gpu_node("g-2", gpu=8, efa=4)]
    gpu = len([n for n in nodes if n.metadata.labels.get("trainstack.io/gpu") == "true"])
    efa = len([n for n in nodes if n.metadata.labels.get("trainstack.io/efa") == "true"])
    objs = doctor.ClusterObjects(
        nodes=nodes,
        crds=list(ALL_CRDS),
        deployments=[
            deployment("kube-system", "karpenter", 2, 2),
            deployment("kubeflow", "training-operator"),
            deployment("kuberay-system", "kuberay-operator"),
        ],
        daemonsets=[
            daemonset("kube-system", "nvidia-device-plugin", gpu, gpu),
            daemonset("kube-system", "aws-efa-k8s-device-plugin", efa, efa),
        ],
    )
    for key, value in changes.items():
        setattr(objs, key, value)
    return objs


def test_healthy_cluster_objects_pass():
    results = doctor.kube_results(healthy())
    assert all(r.status == OK for r in results), doctor.render(results)
    names = by_name(results)
    assert "12 nvidia.com/gpu allocatable" in names["GPU nodes"].detail
    assert "4 vpc.amazonaws.com/efa" in names["EFA nodes"].detail
    assert set(names) >= {
        "Karpenter",
        "NVIDIA device plugin",
        "EFA device plugin",
        "training operator",
        "KubeRay operator",
        "CRDs",
    }


def test_gpu_node_without_gpu_resource_fails():
    result = doctor.check_gpu_nodes([SYSTEM, gpu_node("g-1"), gpu_node("g-bad", gpu=0)])
    assert result.status == FAIL
    assert "1 of 2 Ready node(s) expose no nvidia.com/gpu: g-bad" in result.detail
    assert "spec.nodeName=g-bad" in result.fix and "device plugin" in result.why


def test_no_gpu_nodes_warns_and_not_ready_nodes_warn():
    assert doctor.check_gpu_nodes([SYSTEM]).status == WARN
    # A node still joining has no GPUs yet: a warning, not a device-plugin failure.
    result = doctor.check_gpu_nodes([gpu_node("g-1"), gpu_node("g-new", gpu=0, ready=False)])
    assert result.status == WARN and "NotReady: g-new" in result.detail


def test_efa_node_missing_efa_resource_fails():
    result = doctor.check_efa_nodes([gpu_node("g-1"), gpu_node("g-efa", gpu=8, efa=0)])
    assert result.status == FAIL and "g-efa" in result.detail
    assert "vpc.amazonaws.com/efa" in result.detail
    assert doctor.check_efa_nodes([SYSTEM, gpu_node("g-1")]).status == OK  # none to check


def test_missing_and_unestablished_crds_fail():
    crds = [c for c in ALL_CRDS if c.metadata.name != "rayjobs.ray.io"]
    result = doctor.check_crds(crds)
    assert result.status == FAIL and "missing rayjobs.ray.io (KubeRay (RayJob))" in result.detail
    crds = [crd("pytorchjobs.kubeflow.org", established=False)] + ALL_CRDS[1:]
    result = doctor.check_crds(crds)
    assert result.status == FAIL and "pytorchjobs.kubeflow.org not Established" in result.detail


def test_not_ready_daemonset_fails():
    objs = healthy()
    objs.daemonsets[0] = daemonset("kube-system", "nvidia-device-plugin", 2, 1)
    result = by_name(doctor.kube_results(objs))["NVIDIA device plugin"]
    assert result.status == FAIL and "1/2 pods ready" in result.detail
    assert "logs daemonset/nvidia-device-plugin" in result.fix


def test_daemonset_that_skips_gpu_nodes_fails():
    objs = healthy()
    objs.daemonsets[0] = daemonset("kube-system", "nvidia-device-plugin", 1, 1)
    result = by_name(doctor.kube_results(objs))["NVIDIA device plugin"]
    assert result.status == FAIL and "scheduled on 1 of 2 Ready" in result.detail


@pytest.mark.parametrize(
    "title,namespace,name",
    [
        ("Karpenter", "kube-system", "karpenter"),
        ("training operator", "kubeflow", "training-operator"),
        ("KubeRay operator", "kuberay-system", "kuberay-operator"),
    ],
)
def test_each_operator_missing_or_unready_fails(title, namespace, name):
    objs = healthy()
    objs.deployments = [d for d in objs.deployments if d.metadata.name != name]
    missing = by_name(doctor.kube_results(objs))[title]
    assert missing.status == FAIL and f"{namespace}/{name}" in missing.detail
    objs.deployments.append(deployment(namespace, name, replicas=1, ready=0))
    unready = by_name(doctor.kube_results(objs))[title]
    assert unready.status == FAIL and "0/1 replicas ready" in unready.detail
    objs.deployments[-1] = deployment(namespace, name, replicas=0, ready=0)
    assert "scaled to 0" in by_name(doctor.kube_results(objs))[title].detail


def test_device_plugins_missing():
    objs = healthy(daemonsets=[])
    results = by_name(doctor.kube_results(objs))
    assert results["NVIDIA device plugin"].status == FAIL
    assert results["EFA device plugin"].status == FAIL  # an EFA node is running
    no_efa = by_name(doctor.kube_results(healthy([SYSTEM, gpu_node("g-1")], daemonsets=[])))
    assert no_efa["EFA device plugin"].status == WARN  # installed only for EFA stacks


def test_chart_derived_workload_names_are_found():
    objs = healthy()
    objs.daemonsets[1] = daemonset("kube-system", "aws-efa-k8s-device-plugin-daemonset", 1, 1)
    assert by_name(doctor.kube_results(objs))["EFA device plugin"].status == OK


def test_render_marks_and_exit_code():
    results = [
        doctor.ok("a", "fine"),
        doctor.Result("b", WARN, "hmm", "w", "do x"),
        doctor.Result("c", FAIL, "broken", "jobs stall", "pulumi up"),
    ]
    text = doctor.render(results)
    assert "✔ a  fine" in text and "! b  hmm" in text and "✘ c  broken" in text
    assert "    why: jobs stall\n    fix: pulumi up" in text
    assert text.endswith("1 ok, 1 warning(s), 1 failed")
    assert doctor.exit_code(results) == 1 and doctor.exit_code(results[:2]) == 0


# --------------------------------------------------- the fetch layer, over HTTP, and the CLI


def api_routes(objs: doctor.ClusterObjects) -> dict[str, object]:
    routes: dict[str, object] = {
        "/api/v1/nodes": k8s.V1NodeList(items=objs.nodes),
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions": k8s.V1CustomResourceDefinitionList(
            items=objs.crds
        ),
    }
    for ns in {c.namespace for c in doctor.COMPONENTS}:
        routes[f"/apis/apps/v1/namespaces/{ns}/deployments"] = k8s.V1DeploymentList(
            items=[d for d in objs.deployments if d.metadata.namespace == ns]
        )
        routes[f"/apis/apps/v1/namespaces/{ns}/daemonsets"] = k8s.V1DaemonSetList(
            items=[d for d in objs.daemonsets if d.metadata.namespace == ns]
        )
    return routes


@pytest.fixture
def fake_api():
    yield from serve(lambda routes: FakeApiServer(from_routes(routes)))


def test_fetch_objects_reads_the_api(fake_api, tmp_path):
    objs = healthy()
    routes = api_routes(objs)
    del routes["/apis/apps/v1/namespaces/kuberay-system/deployments"]  # namespace absent: 404
    server = fake_api(routes)
    api = k8s.ApiClient(k8s.Configuration(host=server.url))
    fetched = doctor.fetch_objects(api)
    assert [n.metadata.name for n in fetched.nodes] == ["sys-1", "g-1", "g-2"]
    assert fetched.nodes[2].status.allocatable["vpc.amazonaws.com/efa"] == "4"
    assert len(fetched.crds) == len(doctor.REQUIRED_CRDS)
    results = by_name(doctor.kube_results(fetched))
    assert results["KubeRay operator"].status == FAIL
    assert all(r.status == OK for n, r in results.items() if n != "KubeRay operator")
    # One list per kind a namespace's components are: DaemonSets only where the plugins run.
    listed = sorted(
        "/".join(p.split("/")[-2:]) for p, _ in server.requests if p.startswith("/apis/apps/")
    )
    assert listed == [
        "kube-system/daemonsets",
        "kube-system/deployments",
        "kubeflow/deployments",
        "kuberay-system/deployments",
    ]


def test_doctor_command_end_to_end(aws, fake_api, tmp_path, capsys, monkeypatch):
    desc = make_cluster(aws)
    server = fake_api(api_routes(healthy()))
    # update-kubeconfig names the context after the cluster ARN; other contexts are ignored.
    config = write_kubeconfig(tmp_path / "config", server.url, desc["arn"])
    code = cli.main(["doctor", "--region", REGION, "--kubeconfig", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"Cluster {CLUSTER} ({REGION}, Kubernetes 1.34)")
    assert "✘" not in out and "✔ GPU nodes" in out

    routes = api_routes(healthy())
    routes["/apis/apiextensions.k8s.io/v1/customresourcedefinitions"] = (
        k8s.V1CustomResourceDefinitionList(items=ALL_CRDS[:-1])
    )
    other = fake_api(routes)
    config = write_kubeconfig(tmp_path / "config2", other.url, desc["arn"])
    monkeypatch.setenv("KUBECONFIG", str(config))  # found through $KUBECONFIG this time
    assert cli.main(["doctor", "--region", REGION]) == 1
    out = capsys.readouterr().out
    assert "✘ CRDs" in out and "ec2nodeclasses.karpenter.k8s.aws" in out and "fix: " in out


def test_doctor_without_kubeconfig_context(aws, tmp_path, capsys):
    make_cluster(aws)
    config = write_kubeconfig(
        tmp_path / "config", "https://elsewhere.example", "some-other-cluster"
    )
    assert cli.main(["doctor", "--region", REGION, "--kubeconfig", str(config)]) == 1
    out = capsys.readouterr().out
    assert "✘ kubeconfig" in out
    assert f"fix: aws eks update-kubeconfig --name {CLUSTER} --region {REGION}" in out


def test_doctor_finds_context_by_endpoint(tmp_path):
    config = write_kubeconfig(
        tmp_path / "config", "https://ABC.gr7.us-west-2.eks.amazonaws.com/", "my-alias"
    )
    found = kube.find_context(
        [config],
        arn="arn:aws:eks:...:cluster/x",
        endpoint="https://abc.gr7.us-west-2.eks.amazonaws.com",
    )
    assert found == (config, "my-alias")


def test_several_clusters_need_a_choice(aws, capsys):
    make_cluster(aws, name="a")
    make_cluster(aws, name="b")
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert "a, b; choose one with --cluster" in capsys.readouterr().err
    assert cli.main(["doctor", "--region", REGION, "--cluster", "zz"]) == 2


def test_no_cluster_in_region(aws, capsys):
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert f"no EKS cluster in {REGION}" in capsys.readouterr().err


def test_unreachable_private_endpoint_and_forbidden(aws, tmp_path, monkeypatch):
    desc = make_cluster(aws)
    config = write_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", desc["arn"])

    def refuse(api):
        raise MaxRetryError(None, "/api/v1/nodes", "connection refused")

    monkeypatch.setattr(doctor, "fetch_objects", refuse)
    private = {**desc, "resourcesVpcConfig": {"endpointPublicAccess": False}}
    [result] = doctor.kubernetes_results(private, REGION, str(config))
    assert result.status == FAIL and "private" in result.why and "VPC" in result.fix

    refusal = 'nodes is forbidden: User "arn:aws:sts::1:assumed-role/dev" cannot list nodes'

    def deny(api):
        err = ApiException(status=403, reason="Forbidden")
        err.body = json.dumps({"kind": "Status", "message": refusal, "code": 403})
        raise err

    monkeypatch.setattr(doctor, "fetch_objects", deny)
    [result] = doctor.kubernetes_results(desc, REGION, str(config))
    assert result.status == FAIL and "adminPrincipals" in result.fix
    assert result.detail == refusal  # the API server's own sentence, not "(403)"


def test_no_aws_credentials_is_a_start_failure(monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role probe
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert "credentials" in capsys.readouterr().err.lower()


def test_cost_subcommand_passes_its_arguments_through(monkeypatch, tmp_path):
    """`trainstack cost` hands --stack/--json and any option of its own (--prices) to
    trainstack.cli.cost with the project folder; other commands still reject unknown flags."""
    from trainstack.cli import cost

    calls = []
    monkeypatch.setattr(
        cost,
        "run",
        lambda args: calls.append(((args.stack, args.json, args.prices), args.project_dir)) or 0,
    )
    argv = [
        "--project-dir",
        str(tmp_path),
        "cost",
        "--stack",
        "efa",
        "--json",
        "--prices",
        "p.yaml",
    ]
    assert cli.main(argv) == 0
    assert calls == [(("efa", True, Path("p.yaml")), tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["doctor", "--prices", "p.yaml"])
    assert exit_.value.code == 2
