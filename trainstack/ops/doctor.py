"""`trainstack doctor`: is a deployed cluster able to run training jobs?

Two layers. The checks are pure functions over what AWS returns (describe_* dicts) and over
Kubernetes client models (V1Node, V1CustomResourceDefinition, V1Deployment, V1DaemonSet), so
tests build real objects and no check needs a cluster. A thin fetch layer (`aws_results`,
`fetch_objects`) calls the APIs and turns transport errors into failed checks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from components import versions
from components.gpu import EFA_RELEASE, NVIDIA_RELEASE
from components.gpu import NAMESPACE as PLUGINS_NAMESPACE
from components.karpenter import INTERRUPTION_EVENTS, interruption_queue_name
from components.karpenter import NAMESPACE as KARPENTER_NAMESPACE
from components.karpenter import RELEASE as KARPENTER_RELEASE
from components.operators import (
    KUBERAY_NAMESPACE,
    KUBERAY_RELEASE,
    TRAINING_OPERATOR_NAMESPACE,
)
from components.scheduling import EFA_LABEL, GPU_LABEL

from . import kube

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✔", WARN: "!", FAIL: "✘"}
GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
REQUIRED_CRDS = {
    "pytorchjobs.kubeflow.org": "training operator (PyTorchJob)",
    "rayjobs.ray.io": "KubeRay (RayJob)",
    "rayclusters.ray.io": "KubeRay (RayCluster)",
    "nodepools.karpenter.sh": "Karpenter (NodePool)",
    "ec2nodeclasses.karpenter.k8s.aws": "Karpenter (EC2NodeClass)",
}
API_TIMEOUT_S = 15


class DoctorError(Exception):
    """doctor cannot start (no region, no credentials, ambiguous cluster): exit 2."""


@dataclass(frozen=True)
class Result:
    name: str
    status: str
    detail: str
    why: str = ""  # what breaks for a training job when this is not ok
    fix: str = ""


def ok(name: str, detail: str) -> Result:
    return Result(name, OK, detail)


# ------------------------------------------------------------------------------- AWS checks


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


# ------------------------------------------------------------------------ Kubernetes checks


def _labels(obj) -> dict[str, str]:
    return (obj.metadata.labels if obj.metadata else None) or {}


def _ready(node) -> bool:
    conds = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def _allocatable(node, resource: str) -> int:
    from kubernetes.utils import parse_quantity

    value = ((node.status.allocatable if node.status else None) or {}).get(resource)
    try:
        return int(parse_quantity(value)) if value is not None else 0
    except ValueError:
        return 0


def labelled(nodes: list, label: str) -> list:
    return [n for n in nodes if _labels(n).get(label) == "true"]


def _check_device(
    nodes: list, *, name: str, label: str, resource: str, plugin: str, none_status: str, why: str
) -> Result:
    chosen = labelled(nodes, label)
    if not chosen:
        return Result(
            name,
            none_status,
            f"no node labelled {label}=true is running",
            "nothing to verify until Karpenter or a node group starts one",
            ""
            if none_status == OK
            else "start a job (Karpenter launches a node) and run doctor again",
        )
    ready = [n for n in chosen if _ready(n)]
    missing = sorted(n.metadata.name for n in ready if _allocatable(n, resource) <= 0)
    not_ready = sorted(n.metadata.name for n in chosen if not _ready(n))
    if missing:
        first = missing[0]
        return Result(
            name,
            FAIL,
            f"{len(missing)} of {len(ready)} Ready node(s) expose no "
            f"{resource}: {', '.join(missing)}",
            why,
            f"kubectl -n {PLUGINS_NAMESPACE} get pods -o wide "
            f"--field-selector spec.nodeName={first} | grep {plugin}; "
            f"kubectl describe node {first}",
        )
    total = sum(_allocatable(n, resource) for n in ready)
    detail = f"{len(ready)} Ready node(s), {total} {resource} allocatable"
    if not_ready:
        return Result(
            name,
            WARN,
            f"{detail}; NotReady: {', '.join(not_ready)}",
            "NotReady nodes take no pods; new nodes turn Ready within minutes",
            f"kubectl describe node {not_ready[0]}",
        )
    return ok(name, detail)


def check_gpu_nodes(nodes: list) -> Result:
    return _check_device(
        nodes,
        name="GPU nodes",
        label=GPU_LABEL,
        resource=GPU_RESOURCE,
        plugin=NVIDIA_RELEASE,
        none_status=WARN,
        why="pods requesting nvidia.com/gpu stay Pending on such a node: the NVIDIA device "
        "plugin is not running there or failed to find the driver",
    )


def check_efa_nodes(nodes: list) -> Result:
    return _check_device(
        nodes,
        name="EFA nodes",
        label=EFA_LABEL,
        resource=EFA_RESOURCE,
        plugin="efa",
        none_status=OK,
        why="EFA jobs request vpc.amazonaws.com/efa and stay Pending; without EFA, NCCL falls "
        "back to TCP sockets at a fraction of the bandwidth",
    )


def check_crds(crds: list) -> Result:
    present = {c.metadata.name: c for c in crds}
    missing = sorted(set(REQUIRED_CRDS) - set(present))
    not_established = sorted(
        name
        for name, crd in present.items()
        if name in REQUIRED_CRDS
        and not any(
            c.type == "Established" and c.status == "True"
            for c in ((crd.status.conditions if crd.status else None) or [])
        )
    )
    if missing or not_established:
        parts = [f"missing {n} ({REQUIRED_CRDS[n]})" for n in missing]
        parts += [f"{n} not Established" for n in not_established]
        return Result(
            "CRDs",
            FAIL,
            "; ".join(parts),
            "jobs of that kind are rejected by the API server "
            "(no matches for kind) or never reconciled",
            "pulumi up (installs the Karpenter CRD chart, the training operator and "
            "KubeRay); `kubectl get crd | grep -E 'kubeflow|ray|karpenter'`",
        )
    return ok("CRDs", f"{len(REQUIRED_CRDS)} present and Established")


@dataclass(frozen=True)
class Component:
    title: str
    kind: str  # Deployment | DaemonSet
    namespace: str
    release: str  # the object's name, or the prefix a chart gives it
    why: str
    node_label: str | None = None  # DaemonSets: the nodes it must cover
    optional_without_nodes: bool = False  # installed only when such nodes are in use


COMPONENTS = (
    Component(
        "Karpenter",
        "Deployment",
        KARPENTER_NAMESPACE,
        KARPENTER_RELEASE,
        "no controller launches GPU nodes: pending training pods wait forever",
    ),
    Component(
        "NVIDIA device plugin",
        "DaemonSet",
        PLUGINS_NAMESPACE,
        NVIDIA_RELEASE,
        "GPU nodes advertise no nvidia.com/gpu, so GPU pods never schedule",
        node_label=GPU_LABEL,
    ),
    Component(
        "EFA device plugin",
        "DaemonSet",
        PLUGINS_NAMESPACE,
        EFA_RELEASE,
        "EFA nodes advertise no vpc.amazonaws.com/efa, so EFA jobs never schedule",
        node_label=EFA_LABEL,
        optional_without_nodes=True,
    ),
    Component(
        "training operator",
        "Deployment",
        TRAINING_OPERATOR_NAMESPACE,
        "training-operator",
        "PyTorchJobs are accepted but no pods are created for them",
    ),
    Component(
        "KubeRay operator",
        "Deployment",
        KUBERAY_NAMESPACE,
        KUBERAY_RELEASE,
        "RayJobs/RayClusters are accepted but no Ray pods are created",
    ),
)


def find_workload(objs: list, comp: Component):
    """The object of a component: its exact name, else the shortest name the chart derived from
    the release (charts add suffixes such as `-daemonset`)."""
    here = [o for o in objs if o.metadata.namespace == comp.namespace]
    exact = [o for o in here if o.metadata.name == comp.release]
    if exact:
        return exact[0]
    derived = [
        o
        for o in here
        if o.metadata.name.startswith(comp.release + "-")
        or _labels(o).get("app.kubernetes.io/instance") == comp.release
    ]
    return min(derived, key=lambda o: len(o.metadata.name), default=None)


def _inspect(comp: Component, name: str) -> str:
    kind = comp.kind.lower()
    return (
        f"kubectl -n {comp.namespace} describe {kind} {name}; "
        f"kubectl -n {comp.namespace} logs {kind}/{name} --tail=50"
    )


def check_component(comp: Component, obj, nodes: list) -> Result:
    label = comp.title
    covered = (
        len([n for n in labelled(nodes, comp.node_label) if _ready(n)]) if comp.node_label else 0
    )
    if obj is None:
        if comp.optional_without_nodes and not covered:
            return Result(
                label,
                WARN,
                f"no {comp.kind} {comp.namespace}/{comp.release} "
                f"(fine while no {comp.node_label}=true node exists)",
                comp.why,
                "pulumi up with a pool or node group that sets efa: true",
            )
        return Result(
            label,
            FAIL,
            f"no {comp.kind} {comp.namespace}/{comp.release}*",
            comp.why,
            f"pulumi up; kubectl -n {comp.namespace} get {comp.kind.lower()}s",
        )
    name = obj.metadata.name
    status = obj.status
    if comp.kind == "Deployment":
        want = obj.spec.replicas if obj.spec and obj.spec.replicas is not None else 1
        ready = (status.ready_replicas if status else None) or 0
        if want == 0:
            return Result(
                label,
                FAIL,
                f"{name} scaled to 0 replicas",
                comp.why,
                f"kubectl -n {comp.namespace} scale deploy {name} --replicas=1",
            )
        if ready < want:
            return Result(
                label,
                FAIL,
                f"{name}: {ready}/{want} replicas ready",
                comp.why,
                _inspect(comp, name),
            )
        return ok(label, f"{name}: {ready}/{want} ready")
    desired = (status.desired_number_scheduled if status else None) or 0
    ready = (status.number_ready if status else None) or 0
    if desired < covered:
        return Result(
            label,
            FAIL,
            f"{name} is scheduled on {desired} of {covered} Ready {comp.node_label}=true node(s)",
            comp.why + " (its affinity or tolerations exclude some nodes)",
            f"kubectl -n {comp.namespace} get ds {name} -o yaml | grep -A8 affinity",
        )
    if ready < desired:
        return Result(
            label, FAIL, f"{name}: {ready}/{desired} pods ready", comp.why, _inspect(comp, name)
        )
    if desired == 0:
        return ok(label, f"{name}: idle (no {comp.node_label}=true node running)")
    return ok(label, f"{name}: {ready}/{desired} pods ready")


def check_components(deployments: list, daemonsets: list, nodes: list) -> list[Result]:
    return [
        check_component(
            c, find_workload(deployments if c.kind == "Deployment" else daemonsets, c), nodes
        )
        for c in COMPONENTS
    ]


@dataclass
class ClusterObjects:
    nodes: list = field(default_factory=list)
    crds: list = field(default_factory=list)
    deployments: list = field(default_factory=list)
    daemonsets: list = field(default_factory=list)


def kube_results(objs: ClusterObjects) -> list[Result]:
    return [
        check_gpu_nodes(objs.nodes),
        check_efa_nodes(objs.nodes),
        check_crds(objs.crds),
        *check_components(objs.deployments, objs.daemonsets, objs.nodes),
    ]


def fetch_objects(api_client) -> ClusterObjects:
    """Nodes, CRDs and the components' Deployments/DaemonSets in their namespaces. A namespace
    that does not exist is an empty list: the component check then reports it missing."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    ext = client.ApiextensionsV1Api(api_client)
    t = {"_request_timeout": API_TIMEOUT_S}
    objs = ClusterObjects(
        nodes=core.list_node(**t).items, crds=ext.list_custom_resource_definition(**t).items
    )
    # Only the kinds each namespace's components are: one list call per (kind, namespace).
    for kind, ns in sorted({(c.kind, c.namespace) for c in COMPONENTS}):
        deployment = kind == "Deployment"
        lister = apps.list_namespaced_deployment if deployment else apps.list_namespaced_daemon_set
        try:
            items = lister(ns, **t).items
        except ApiException as err:
            if err.status != 404:
                raise
            continue
        (objs.deployments if deployment else objs.daemonsets).extend(items)
    return objs


def unreachable(desc: dict[str, Any], err: Exception) -> Result:
    """The API server did not answer: most often a private endpoint seen from outside the VPC."""
    vpc = desc.get("resourcesVpcConfig") or {}
    if not vpc.get("endpointPublicAccess", True):
        why = "the endpoint is private: only reachable from inside the VPC"
        fix = (
            "run doctor from inside the VPC (SSM/bastion/VPN), or allow your address: "
            "trainstack:cluster.endpoint {public: true, publicAccessCidrs: [<your-ip>/32]}"
        )
    else:
        cidrs = ", ".join(vpc.get("publicAccessCidrs") or []) or "any"
        why = f"public endpoint allows {cidrs}"
        fix = "check your address is in publicAccessCidrs and your network reaches AWS"
    return Result("Kubernetes API", FAIL, f"{type(err).__name__}: {str(err)[:200]}", why, fix)


def forbidden(err: Exception, cluster: str) -> Result:
    return Result(
        "Kubernetes API",
        FAIL,
        kube.api_message(err)[:200],
        "the API server refused you: no access entry for your IAM principal, or "
        "`aws eks get-token` (the kubeconfig's exec plugin) failed",
        f"add your role to trainstack:cluster.adminPrincipals and `pulumi up`; "
        f"`aws eks list-access-entries --cluster-name {cluster}` shows who has access",
    )


# ------------------------------------------------------------------------------------ output


def render(results: list[Result]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        lines.append(f"{MARKS[r.status]} {r.name:<{width}}  {r.detail}")
        if r.status == FAIL:
            lines += [f"    why: {r.why}", f"    fix: {r.fix}"]
        elif r.status == WARN and r.fix:
            lines.append(f"    fix: {r.fix}")
    counts = {s: sum(r.status == s for r in results) for s in (OK, WARN, FAIL)}
    lines.append(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failed")
    return "\n".join(lines)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.status == FAIL for r in results) else 0


def run(
    *,
    cluster: str | None,
    region: str | None,
    kubeconfig: str | None,
    session=None,
    out: TextIO | None = None,
) -> int:
    """The whole command: 0 all ok (warnings allowed), 1 a check failed, 2 could not start."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    out = out or sys.stdout  # looked up per call: tests and callers swap sys.stdout

    try:
        session = session or boto3.Session(region_name=region)
        region = session.region_name
        if not region:
            raise DoctorError("no AWS region: pass --region or set AWS_REGION")
        eks = session.client("eks")
        name = pick_cluster(list_clusters(eks), cluster, region)
        desc = eks.describe_cluster(name=name)["cluster"]
    except DoctorError as err:
        print(f"trainstack doctor: {err}", file=sys.stderr)
        return 2
    except NoCredentialsError as err:
        print(
            f"trainstack doctor: {err} (aws configure, aws sso login, or AWS_PROFILE)",
            file=sys.stderr,
        )
        return 2
    except NoRegionError as err:
        print(f"trainstack doctor: {err} (pass --region or set AWS_REGION)", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as err:
        print(f"trainstack doctor: AWS: {err}", file=sys.stderr)
        return 2

    print(f"Cluster {name} ({region}, Kubernetes {desc.get('version', '?')})", file=out)
    try:
        results = aws_results(session, desc)
    except (ClientError, BotoCoreError) as err:
        results = [
            *check_cluster(desc),
            Result(
                "AWS API",
                FAIL,
                str(err)[:200],
                "the remaining AWS checks need "
                "eks:Describe*/List*, sqs:GetQueue*, events:List*/Describe*",
                "use a role with read access to EKS, SQS and EventBridge",
            ),
        ]
    results += kubernetes_results(desc, region, kubeconfig)
    print(render(results), file=out)
    return exit_code(results)


def kubernetes_results(desc: dict[str, Any], region: str, kubeconfig: str | None) -> list[Result]:
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        api = kube.api_client(
            cluster=desc["name"],
            region=region,
            arn=desc.get("arn"),
            endpoint=desc.get("endpoint"),
            kubeconfig=kubeconfig,
        )
    except kube.KubeConfigError as err:
        return [
            Result(
                "kubeconfig",
                FAIL,
                str(err),
                "the Kubernetes-side checks need credentials for this cluster",
                err.fix,
            )
        ]
    try:
        objs = fetch_objects(api)
    except ApiException as err:
        if err.status in (401, 403):
            return [forbidden(err, desc["name"])]
        return [
            Result(
                "Kubernetes API",
                FAIL,
                kube.api_message(err)[:200],
                "the Kubernetes-side checks could not run",
                "kubectl get nodes",
            )
        ]
    except (HTTPError, OSError) as err:
        return [unreachable(desc, err)]
    return kube_results(objs)
