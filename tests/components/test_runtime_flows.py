"""Every runtime flow of every workload against the NetworkPolicies the plan really renders,
evaluated with the VPC CNI policy agent's semantics (tests/netpol_eval.py).

Two sources of flows, so neither can hide the other's mistake:
- `REQUIRED`: what upstream components do, written here from their source (the Pod Identity
  agent, the KubeRay operator's status polling, CoreDNS, the API server, S3), applied to the
  pods the plan renders; plus `BLOCKED`, what must stay denied.
- the declared contracts (components/runtime_contract.py): each declared call and caller, made
  concrete with the rendered pods, must be allowed; and every rendered pod is covered by one.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from pathlib import Path

import pytest
from netpol_eval import Address, ClusterModel, Pod, Service
from workload_support import pod_templates, stack_plan

from components import network_policy, observability, volume_prepare
from components import runtime_contract as rc
from components.workloads import stack_contracts
from trainstack.offline import plan as offline_plan

ROOT = Path(__file__).resolve().parents[2]
NS = "training"

# Addresses outside the cluster's pods, each from its upstream's documentation.
POD_IDENTITY = Address("EKS Pod Identity agent", "169.254.170.23")  # eks-pod-identity-agent
IMDS = Address("IMDS", "169.254.169.254")
S3 = Address("S3 (us-west-2, through the gateway endpoint)", "52.92.160.10")
HF_HUB = Address("huggingface.co", "18.164.174.30")
# W&B's API: some public address (api.wandb.ai resolves to a cloud load balancer's, which may
# change); a NetworkPolicy sees only the address, so this one stands in for it.
WANDB = Address("api.wandb.ai", "35.186.228.49")
SNS = Address("SNS regional endpoint", "52.94.229.10")
LB_CLIENT = Address("a client in the dev pod's loadBalancerCidrs", "198.51.100.7")
# kuberay v1.7.0 helm-chart/kuberay-operator templates/deployment.yaml: the operator pod's labels.
KUBERAY_OPERATOR = {
    "app.kubernetes.io/name": "kuberay-operator",
    "app.kubernetes.io/instance": "kuberay-operator",
    "app.kubernetes.io/component": "kuberay-operator",
}
# amazon-cloudwatch-agent-operator v3.6.0 internal/manifests/manifestutils/labels.go
# SelectorLabels: the CloudWatch agent pods' labels, which its Service selects; hostNetwork pods
# (chart 6.4.0 values.yaml agent.hostNetwork), one per node, behind a Service with
# internalTrafficPolicy Local (internal/manifests/collector/service.go, DaemonSet mode).
CLOUDWATCH_AGENT = {
    "app.kubernetes.io/managed-by": "amazon-cloudwatch-agent-operator",
    "app.kubernetes.io/instance": "amazon-cloudwatch.cloudwatch-agent",
    "app.kubernetes.io/part-of": "amazon-cloudwatch-agent",
    "app.kubernetes.io/component": "amazon-cloudwatch-agent",
}


def _plan(stack: str) -> offline_plan.PlanResult:
    return stack_plan(stack)


class World:
    """The pods the plan's manifests make, on made-up nodes, and the addresses around them."""

    def __init__(self, result: offline_plan.PlanResult):
        self.result = result
        self.vpc = ipaddress.ip_network(str(result.config.network.cidr))
        self._ips = (str(h) for h in itertools.islice(self.vpc.hosts(), 10, None))
        self.api_server = Address("EKS API server ENI", next(self._ips))
        self.vpc_service = Address("a database elsewhere in the VPC", next(self._ips))
        self.pods: list[Pod] = []
        self.by_workload: dict[str, list[Pod]] = {}  # "<kind>/<name>/<part>" -> pods
        self.service_account: dict[str, str | None] = {}  # pod name -> its ServiceAccount
        for m in result.manifests:
            for part, template in pod_templates(m):
                workload = f"{m['kind']}/{m['metadata']['name']}/{part}"
                self._add(m["metadata"].get("namespace", NS), workload, template)
        self._add_pod("kube-system", "coredns", {"k8s-app": "kube-dns"})
        self.operator = self._add_pod("kuberay-system", "kuberay-operator", KUBERAY_OPERATOR)
        self._add_pod("default", "someone-else", {"app": "other"})
        self.services: list[Service] = []
        if result.config.observability.enabled:
            self._add_node_agents()
        policies = [m for m in result.manifests if m["kind"] == "NetworkPolicy"]
        self.model = ClusterModel(policies, self.pods)

    def _add_node_agents(self) -> None:
        """The CloudWatch agent on the node of every pod of the jobs namespace, and its Service."""
        for node in sorted({p.node_ip for p in self.pods if p.namespace == NS}):
            self.pods.append(
                Pod(
                    f"cloudwatch-agent@{node}",
                    observability.NAMESPACE,
                    CLOUDWATCH_AGENT,
                    node,
                    node,
                    True,
                )
            )
        self.services.append(
            Service(observability.AGENT, observability.NAMESPACE, CLOUDWATCH_AGENT, local=True)
        )
        self.agent = self.services[-1]

    def _add_pod(self, namespace: str, name: str, labels: dict) -> Pod:
        pod = Pod(name, namespace, labels, next(self._ips), next(self._ips))
        self.pods.append(pod)
        return pod

    def _add(self, namespace: str, workload: str, template: dict) -> None:
        labels = dict(template.get("metadata", {}).get("labels") or {})
        pod = self._add_pod(namespace, workload, labels)
        self.by_workload.setdefault(workload, []).append(pod)
        self.service_account[pod.name] = template["spec"].get("serviceAccountName")

    def of(self, kind: str, part: str | None = None) -> list[Pod]:
        """The jobs namespace's pods of a kind (and part)."""
        return [
            p
            for w, pods in self.by_workload.items()
            for p in pods
            if w.startswith(kind + "/")
            and (part is None or w.endswith("/" + part))
            and p.namespace == NS
        ]

    def with_identity(self) -> list[Pod]:
        """Pods whose ServiceAccount a Pod Identity association of the plan names."""
        associated = {
            (r.plain_inputs.get("namespace"), r.plain_inputs.get("serviceAccount"))
            for r in self.result.plan.of_type(
                "aws:eks/podIdentityAssociation:PodIdentityAssociation"
            )
        }
        return [
            p for p in self.pods if (p.namespace, self.service_account.get(p.name)) in associated
        ]

    def watchers(self) -> list[Pod]:
        return [p for p in self.of("Deployment") if p.name.startswith("Deployment/jobwatch/")]

    def servers(self) -> list[Pod]:
        """The vLLM servers' pods (components/serving.py)."""
        return [p for p in self.of("Deployment") if "trainstack.io/serving" in p.labels]

    def s3_servers(self) -> set[str]:
        cfg = self.result.config
        return {n for n, s in cfg.serving_jobs.items() if s.source.kind == "s3"}

    def job_pods(self, job: str) -> list[Pod]:
        return [p for p in self.pods if p.labels.get("trainstack.io/job") == job]


@functools.cache
def world(stack: str) -> World:
    return World(_plan(stack))


STACKS = ["dev", "efa", "full"]


def required_flows(w: World) -> list[tuple]:
    """What upstream components need, applied to the rendered pods."""
    flows = []
    dns = next(p for p in w.pods if p.namespace == "kube-system")
    for pod in (p for p in w.pods if p.namespace == NS):
        flows += [(pod, dns, 53, "UDP"), (pod, dns, 53, "TCP")]
    # The Pod Identity webhook points AWS_CONTAINER_CREDENTIALS_FULL_URI at the agent
    # (http://169.254.170.23/v1/credentials, EKS user guide pod-id-how-it-works).
    flows += [(pod, POD_IDENTITY, 80, "TCP") for pod in w.with_identity()]
    trainers = _trainers(w)
    for pod in trainers:
        flows += [(pod, S3, 443, "TCP"), (pod, HF_HUB, 443, "TCP")]
    if w.result.config.wandb_target() is not None:  # the trainer's rank 0 logs to W&B
        flows += [(pod, WANDB, 443, "TCP") for pod in trainers]
    for job in {p.labels.get("trainstack.io/job") for p in trainers}:
        pods = [p for p in w.job_pods(job) if p in trainers]
        # c10d rendezvous on the master port (a PyTorchJob's 23456, a TrainJob's 29500), NCCL
        # sockets on ephemeral ports, Ray's GCS, client and raylet ports: both ways between a
        # job's own pods.
        for a, b in itertools.permutations(pods, 2):
            flows += [(a, b, port, "TCP") for port in (23456, 29500, 6379, 10001, 10002, 45873)]
    for head in w.of("RayJob", "head"):
        job = head.labels["trainstack.io/job"]
        # kuberay v1.7.0: the head Service is headless (common/service.go
        # BuildServiceForHeadPod), the RayJob controller polls <head-svc>:8265
        # (utils/util.go FetchHeadServiceURL, GetRayDashboardClientFunc); the submitter runs
        # `ray job submit/logs` against the same URL (common/job.go BuildJobSubmitCommand).
        head_svc = Service(f"{job}-head-svc", NS, {"trainstack.io/job": job, **_role(head)})
        flows.append((w.operator, head_svc, 8265, "TCP"))
        for submitter in (p for p in w.of("RayJob", "submitter") if p in w.job_pods(job)):
            flows.append((submitter, head_svc, 8265, "TCP"))
    for watcher in w.watchers():
        flows += [(watcher, w.api_server, 443, "TCP"), (watcher, SNS, 443, "TCP")]
    if w.services:  # the trainer's figures to the agent on its node (trainer/cloudwatch_emf.py)
        flows += [(pod, w.agent, observability.EMF_PORT, "TCP") for pod in trainers]
    for server in w.servers():
        # components/serving.py: vLLM's port, for the dev pod; the s3 copy (the init
        # container) reaches S3 with the serving identity.
        flows += [(dev, server, 8000, "TCP") for dev in w.of("Pod")]
        if server.labels["trainstack.io/serving"] in w.s3_servers():
            flows.append((server, S3, 443, "TCP"))
    for dev in w.of("Pod"):
        flows += [(LB_CLIENT, dev, 2222, "TCP"), (LB_CLIENT, dev, 8888, "TCP")]
        flows += [(dev, S3, 443, "TCP"), (dev, HF_HUB, 443, "TCP")]
    return flows


def _trainers(w: World) -> list[Pod]:
    """The pods that run the trainer: a PyTorchJob's, a TrainJob's (its runtime's), Ray's."""
    return (
        w.of("PyTorchJob")
        + w.of("TrainingRuntime")
        + w.of("RayJob", "head")
        + w.of("RayJob", "worker-gpu")
    )


def _role(pod: Pod) -> dict:
    return {k: v for k, v in pod.labels.items() if k == "trainstack.io/role"}


def blocked_flows(w: World) -> list[tuple]:
    flows = []
    ours = [p for p in w.pods if p.namespace == NS]
    for pod in ours:
        flows += [(pod, IMDS, 80, "TCP"), (pod, w.vpc_service, 5432, "TCP")]
        # The watcher calls the API server, whose ENIs have VPC addresses a NetworkPolicy cannot
        # tell from another service's: VPC port 443 is open to it by need.
        if not w.result.config.network.interface_endpoints and pod not in w.watchers():
            flows.append((pod, w.vpc_service, 443, "TCP"))
    other = next(p for p in w.pods if p.namespace == "default")
    jobs = sorted({p.labels["trainstack.io/job"] for p in ours if "trainstack.io/job" in p.labels})
    for a, b in itertools.permutations(jobs, 2):
        for x, y in itertools.product(w.job_pods(a), w.job_pods(b)):
            flows += [(x, y, 23456, "TCP"), (x, y, 29500, "TCP")]
    for pod in (p for p in ours if "trainstack.io/job" in p.labels):
        flows += [(other, pod, 23456, "TCP"), (other, pod, 29500, "TCP")]
        flows.append((w.operator, pod, 6379, "TCP"))
        for not_a_job in w.of("Pod") + w.of("Deployment"):
            flows += [(not_a_job, pod, 8265, "TCP"), (pod, not_a_job, 2222, "TCP")]
    for submitter in w.of("RayJob", "submitter"):
        for worker in w.of("RayJob", "worker-gpu"):
            flows.append((submitter, worker, 10002, "TCP"))
    if w.services:
        # The agent's other listeners (its Service also has EMF on UDP, and OTLP, Application
        # Signals ports once configured) stay closed, and only trainers reach its EMF port.
        for pod in ours:
            flows += [(pod, w.agent, observability.EMF_PORT, "UDP"), (pod, w.agent, 4317, "TCP")]
        trainers = _trainers(w)
        flows += [
            (pod, w.agent, observability.EMF_PORT, "TCP") for pod in ours if pod not in trainers
        ]
    # A server answers the dev pod only: no job, no load balancer client, no other namespace;
    # and it calls no job's pods.
    for server in w.servers():
        callers = [p for p in ours if "trainstack.io/job" in p.labels] + w.watchers()
        flows += [(c, server, 8000, "TCP") for c in callers]
        flows += [(other, server, 8000, "TCP"), (LB_CLIENT, server, 8000, "TCP")]
        flows += [(server, p, 23456, "TCP") for p in ours if "trainstack.io/job" in p.labels]
    return flows


@pytest.mark.parametrize("stack", STACKS)
def test_every_flow_upstream_needs_is_allowed(stack):
    w = world(stack)
    assert w.model.all_allowed(required_flows(w)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_what_nothing_needs_stays_blocked(stack):
    w = world(stack)
    opened = [f for f in blocked_flows(w) if w.model.allowed(*f)]
    assert [(a.name, b.name, port) for a, b, port, _ in opened] == []


def test_the_full_stack_has_every_kind_of_workload():
    w = world("full")
    for kind, part in [
        ("PyTorchJob", None),
        ("TrainingRuntime", "node"),
        ("RayJob", "head"),
        ("RayJob", "worker-gpu"),
        ("RayJob", "submitter"),
        ("Pod", None),
        ("Deployment", None),
    ]:
        assert w.of(kind, part), (kind, part)
    assert w.watchers() and w.servers() and w.result.config.wandb_target() is not None
    assert len(w.with_identity()) >= 4  # job pods, the dev pod and the watcher


# ------------------------------------------------------------------- the declared contracts


def _endpoints(w: World, peer: rc.Peer) -> list:
    if peer.cidr is not None:
        net = ipaddress.ip_network(peer.cidr)
        for candidate in (POD_IDENTITY, S3, w.api_server):
            ip = ipaddress.ip_address(candidate.ip)
            if ip in net and not any(ip in ipaddress.ip_network(e) for e in peer.except_cidrs):
                return [candidate]
        raise AssertionError(f"no sample address for {peer}")
    if peer.pods is None:
        return [LB_CLIENT]
    namespace = peer.namespace or NS
    services = [
        s
        for s in w.services
        if s.namespace == namespace and peer.pods.items() <= dict(s.selector).items()
    ]
    if services:  # pods in the host's network, reached through their Service
        return services
    found = [
        p
        for p in w.pods
        if p.namespace == namespace and peer.pods.items() <= dict(p.labels).items()
    ]
    assert found, f"{peer.what}: no rendered pod carries {dict(peer.pods)} in {namespace}"
    return found


def _ports(peer: rc.Peer) -> list[tuple[int, str]]:
    return [(p.port, p.protocol) for p in peer.ports] or [(23456, "TCP"), (45873, "UDP")]


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_flow_is_allowed_and_every_pod_is_declared(stack):
    w = world(stack)
    contracts = stack_contracts(w.result.config).every()
    flows = []
    for c in contracts:
        mine = [p for p in w.pods if p.namespace == NS and c.pods.items() <= dict(p.labels).items()]
        assert mine, f"{c.workload}: no rendered pod carries {dict(c.pods)}"
        for peer in c.egress():
            for dst, (port, proto) in itertools.product(_endpoints(w, peer), _ports(peer)):
                flows += [(src, dst, port, proto) for src in mine if src is not dst]
        for peer in c.called_by:
            for src, (port, proto) in itertools.product(_endpoints(w, peer), _ports(peer)):
                flows += [(src, dst, port, proto) for dst in mine if src is not dst]
    assert flows and w.model.all_allowed(flows) == []
    for pod in (p for p in w.pods if p.namespace == NS):
        covering = [c.name for c in contracts if c.pods.items() <= dict(pod.labels).items()]
        assert len(covering) == 1, (pod.name, covering)


# ------------------------------------------------- the FSx root step's namespace (no network)

VOLUMES_NS = volume_prepare.NAMESPACE


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_of_the_volumes_namespace_has_one_contract_and_its_policy(stack):
    w = world(stack)
    contracts = volume_prepare.contracts(w.result.config.volumes)
    pods = [p for p in w.pods if p.namespace == VOLUMES_NS]
    lustre = [n for n, v in w.result.config.volumes.items() if v.stack_lustre]
    assert len(pods) == len(contracts) == len(lustre)  # a Job per stack-created file system
    for pod in pods:
        covering = [c.name for c in contracts if c.pods.items() <= dict(pod.labels).items()]
        assert len(covering) == 1, (pod.name, covering)
    policies = [m for m in w.result.manifests if m["kind"] == "NetworkPolicy"]
    for c in contracts:
        assert network_policy.render_contract(c, VOLUMES_NS) in policies
    if pods:
        assert network_policy.render_default_deny(VOLUMES_NS) in policies


@pytest.mark.parametrize("stack", ["efa", "full"])
def test_the_root_run_prepare_job_reaches_nothing_and_nothing_reaches_it(stack):
    """It needs no network: its volume is mounted by the node's CSI driver, its image pulled by
    the kubelet, and it has no token. Whatever it ran could reach neither IMDS (the node's
    role), AWS nor CoreDNS, nor any pod, and no pod could reach it."""
    w = world(stack)
    steps = [p for p in w.pods if p.namespace == VOLUMES_NS]
    assert steps
    others = [p for p in w.pods if p.namespace != VOLUMES_NS]  # jobs, CoreDNS, the operator
    outside = [
        (IMDS, 80),
        (S3, 443),
        (HF_HUB, 443),
        (POD_IDENTITY, 80),
        (w.api_server, 443),
        (w.vpc_service, 443),
    ]
    flows = []
    for step in steps:
        flows += [(step, dst, port, "TCP") for dst, port in outside]
        for pod, (port, proto) in itertools.product(
            others, [(53, "UDP"), (53, "TCP"), (443, "TCP"), (23456, "TCP")]
        ):
            flows += [(step, pod, port, proto), (pod, step, port, proto)]
        flows += [(LB_CLIENT, step, 22, "TCP")]
        flows += [(s, step, 8080, "TCP") for s in steps if s is not step]
    opened = [f for f in flows if w.model.allowed(*f)]
    assert [(a.name, b.name, port, proto) for a, b, port, proto in opened] == []
