"""What the doctor tests build: a cluster as `pulumi up` leaves it in moto, and the Kubernetes
objects of a working cluster as client models (and as the API server's routes)."""

from __future__ import annotations

import json

from kubernetes import client as k8s

from components.karpenter import INTERRUPTION_EVENTS
from trainstack.ops import doctor

REGION = "us-west-2"
CLUSTER = "ts-dev"


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


def meta(name, namespace=None, labels=None):
    return k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels)


# The node monitoring agent's conditions on a healthy node, as v1.7.0 sets them
# (cmd/eks-node-monitoring-agent/main.go: ReadyReason per monitor; the GPU one on NVIDIA nodes).
AGENT_READY = {
    "KernelReady": "KernelIsReady",
    "StorageReady": "DiskIsReady",
    "ContainerRuntimeReady": "ContainerRuntimeIsReady",
    "NetworkingReady": "NetworkingIsReady",
}


def agent_conditions(gpu: bool) -> list:
    ready = {**AGENT_READY, **({"AcceleratedHardwareReady": "NvidiaGPUIsReady"} if gpu else {})}
    return [k8s.V1NodeCondition(type=t, status="True", reason=r) for t, r in ready.items()]


def node(name, *, gpu=0, efa=None, labels=None, ready=True, agent=True, capacity=None):
    alloc = {"cpu": "30", "memory": "120Gi"}
    if gpu:
        alloc["nvidia.com/gpu"] = str(gpu)
    if efa is not None:
        alloc["vpc.amazonaws.com/efa"] = str(efa)
    conds = [k8s.V1NodeCondition(type="Ready", status="True" if ready else "False")]
    if agent:
        conds += agent_conditions((labels or {}).get("trainstack.io/gpu") == "true")
    return k8s.V1Node(
        metadata=meta(name, labels=labels or {}),
        status=k8s.V1NodeStatus(
            allocatable=alloc, capacity=capacity or dict(alloc), conditions=conds
        ),
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


# Kueue, Kubeflow Trainer and JobSet: installed only where a stack uses them.
KUEUE_CRDS = [
    "clusterqueues.kueue.x-k8s.io",
    "localqueues.kueue.x-k8s.io",
    "resourceflavors.kueue.x-k8s.io",
    "workloads.kueue.x-k8s.io",
    "workloadpriorityclasses.kueue.x-k8s.io",
]
TRAINER_CRDS = [
    "trainjobs.trainer.kubeflow.org",
    "trainingruntimes.trainer.kubeflow.org",
    "jobsets.jobset.x-k8s.io",
]


def cluster_queue(name: str, status: str = "True", reason="Ready", message="") -> dict:
    """A ClusterQueue as the API returns it, with its Active condition (none when status is "")."""
    conditions = [{"type": "Active", "status": status, "reason": reason, "message": message}]
    return {"metadata": {"name": name}, "status": {"conditions": conditions if status else []}}


ACTIVE_QUEUES = [cluster_queue("g5", message="Can admit new workloads"), cluster_queue("team-a")]


ADDON_CRDS = KUEUE_CRDS + TRAINER_CRDS


def with_addons(**changes):
    """healthy(), with Kueue, Kubeflow Trainer and JobSet installed and two Active queues."""
    objs = healthy(**changes)
    objs.crds += [crd(n) for n in ADDON_CRDS]
    objs.deployments += [
        deployment("kueue-system", "kueue-controller-manager", 2, 2),
        deployment("kubeflow-system", "kubeflow-trainer-controller-manager"),
        deployment("kubeflow-system", "jobset-controller"),
    ]
    objs.cluster_queues = list(ACTIVE_QUEUES)
    return objs
