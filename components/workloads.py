"""Workloads: the jobs namespace, the secrets jobs read, the checkpoint volumes, every training
job of `trainingJobs`, every model server of `servingJobs` (components/serving.py) and the
optional dev pod, running the image built by this stack (or a job's
own ECR image, config/job_runs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from . import (
    dev_pod,
    job_contracts,
    jobwatch_manifests,
    network_policy,
    observability,
    pod_spec,
    serving,
    wandb_env,
)
from . import runtime_contract as rc
from .config import PlatformConfig, PoolFacts
from .serving import ServingJob, ServingJobArgs
from .training_job import TrainingJob, TrainingJobArgs


# Pod Security Admission (kubernetes.io/docs/concepts/security/pod-security-admission): the API
# server refuses any pod of the namespace that is not "restricted", whoever creates it (the
# operators' pods and submitter Jobs included). Pinned to the cluster's minor version so a
# control-plane upgrade does not change the rules under running jobs.
# training-operator v1.9 adds its own `init-pytorch` init container to the Worker pods of a job
# that has a Master; components/operators.py makes the operator use a template that passes.
def pod_security_labels(kubernetes_version: str) -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{kubernetes_version}"
    return labels


@dataclass(frozen=True)
class StackContracts:
    """Every workload's runtime contract in the jobs namespace (runtime_contract.py)."""

    jobs: dict[str, list[rc.Contract]]
    dev_pod: rc.Contract | None
    watcher: rc.Contract | None  # declared by notifications.py, which renders its objects
    serving: dict[str, rc.Contract] = field(default_factory=dict)

    def in_workloads(self) -> list[rc.Contract]:
        """The contracts whose NetworkPolicies the Workloads component renders."""
        return (
            [c for cs in self.jobs.values() for c in cs]
            + list(self.serving.values())
            + [self.dev_pod] * bool(self.dev_pod)
        )

    def every(self) -> list[rc.Contract]:
        return self.in_workloads() + [self.watcher] * bool(self.watcher)


def _queue_metadata(cfg: PlatformConfig, job_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The (labels, annotations) a job object carries for Kueue: its LocalQueue and priority
    (issue 28's components/queueing.py job_labels and job_annotations, when it is merged in).
    The one call site, for the TrainJob renderer (training_job.render_trainjob)."""
    return {}, {}


def claims(cfg: PlatformConfig) -> dict[str, str]:
    """The claim the stack creates for each volume (not for an existing claim)."""
    return {
        n: pod_spec.claim_name(n, v) for n, v in cfg.volumes.items() if v.existing_claim is None
    }


def jobs_service_account(cfg: PlatformConfig) -> str | None:
    """The ServiceAccount of the artifacts bucket's Pod Identity role, which the jobs and the dev
    pod run under (None: artifacts off, the namespace's default and no AWS identity)."""
    return cfg.artifacts.service_account if cfg.artifacts.enabled else None


def serving_service_account(cfg: PlatformConfig) -> str | None:
    """The ServiceAccount of the model servers' own Pod Identity role (None: artifacts off)."""
    return serving.service_account(cfg.artifacts.service_account) if cfg.artifacts.enabled else None


def stack_contracts(cfg: PlatformConfig) -> StackContracts:
    service_account = jobs_service_account(cfg)
    made_claims = claims(cfg)
    https_except = cfg.https_except_vpc()
    servers = {
        name: serving.contract(
            name,
            s,
            service_account=serving_service_account(cfg),
            https_except_vpc=https_except,
            claim=made_claims.get(s.source.volume or ""),
            dev_pod=dev_pod.contract_pods() if cfg.dev_pod.enabled else None,
        )
        for name, s in cfg.serving_jobs.items()
    }
    jobs = {
        job_name: job_contracts.contracts(
            job_name,
            job,
            job_contracts.JobSetting(
                service_account,
                https_except,
                made_claims.get(job.checkpoint_volume),
                emf=cfg.observability.enabled,
                wandb=cfg.wandb_target() is not None,
            ),
        )
        for job_name, job in cfg.training_jobs.items()
    }
    dev = None
    if cfg.dev_pod.enabled:
        dev = dev_pod.contract(
            cfg.dev_pod,
            service_account=service_account,
            https_except_vpc=https_except,
            claim=made_claims.get(cfg.dev_pod.volume) if cfg.dev_pod.volume else None,
            servers=tuple(servers),
        )
    watcher = None
    if cfg.notifications.enabled and cfg.notifications.training_jobs and cfg.image.enabled:
        watcher = jobwatch_manifests.contract(str(cfg.network.cidr), https_except)
    return StackContracts(jobs, dev, watcher, servers)


@dataclass
class WorkloadsArgs:
    config: PlatformConfig
    image: pulumi.Input[str]  # <repository>@sha256:<digest>
    provider: k8s.Provider
    # The operators' CRDs and the device plugins must exist before a job is declared.
    depends_on: list[pulumi.Resource]
    hf_token: pulumi.Output[str] | None = None
    wandb_api_key: pulumi.Output[str] | None = None  # with cfg.wandb_target(): W&B on
    artifacts_bucket: pulumi.Output[str] | None = None  # None: artifacts disabled
    # The artifacts ServiceAccount's Pod Identity association (with artifacts_bucket).
    identity: pulumi.CustomResource | None = None
    ssh_keys: pulumi.Output[str] | None = None
    engine_image: pulumi.Input[str] | None = None  # the pinned vLLM image in ECR
    # What pulls it (the cache rule, the repository policy): servers wait for it.
    engine: pulumi.Resource | None = None
    # The serving ServiceAccount's Pod Identity association (a server with an s3 model).
    serving_identity: pulumi.CustomResource | None = None


def _declare(name: str, manifest: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """A core object from its rendered manifest (the same dict the tests validate)."""
    meta = manifest["metadata"]
    kind = manifest["kind"]
    if kind == "Secret":
        return k8s.core.v1.Secret(
            name,
            metadata=meta,
            type=manifest["type"],
            string_data=manifest["stringData"],
            opts=opts,
        )
    if kind == "PersistentVolumeClaim":
        return k8s.core.v1.PersistentVolumeClaim(
            name, metadata=meta, spec=manifest["spec"], opts=opts
        )
    if kind == "ServiceAccount":
        return k8s.core.v1.ServiceAccount(
            name,
            metadata=meta,
            automount_service_account_token=manifest["automountServiceAccountToken"],
            opts=opts,
        )
    if kind == "Service":
        return k8s.core.v1.Service(name, metadata=meta, spec=manifest["spec"], opts=opts)
    if kind == "NetworkPolicy":
        return k8s.networking.v1.NetworkPolicy(
            name, metadata=meta, spec=manifest["spec"], opts=opts
        )
    raise ValueError(f"no declaration for kind {kind}")


class Workloads(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:jobs:Workloads", name, None, opts)
        cfg = args.config
        ns_name = cfg.jobs_namespace
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={
                "name": ns_name,
                "labels": {
                    "app.kubernetes.io/part-of": "trainstack",
                    **pod_security_labels(cfg.cluster.kubernetes_version),
                },
            },
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=args.depends_on)
            ),
        )
        in_ns = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[namespace])
        )
        service_account = jobs_service_account(cfg)
        contracts = stack_contracts(cfg)
        every = contracts.in_workloads()

        # What the workloads' pods wait for, by need (runtime_contract.py): each pod-creating
        # object below depends on exactly its contracts' needs, besides the namespace, the
        # default-deny policy and the platform pieces every job needs (args.depends_on).
        deny = network_policy.render_default_deny(ns_name)
        base: list[pulumi.Resource] = [
            namespace,
            *args.depends_on,
            _declare(f"{name}-netpol-{deny['metadata']['name']}", deny, in_ns),
        ]
        made: dict[str, object] = {}
        for contract in every:
            policy = network_policy.render_contract(contract, ns_name)
            made[rc.network_policy_need(contract.name)] = _declare(
                f"{name}-netpol-{contract.name}", policy, in_ns
            )

        hf_users = [*cfg.training_jobs.values(), *cfg.serving_jobs.values()]
        if args.hf_token is not None and any(j.hf_token for j in hf_users):
            made[rc.secret_need(pod_spec.HF_TOKEN_SECRET)] = _declare(
                f"{name}-hf-token",
                pod_spec.render_secret(
                    pod_spec.HF_TOKEN_SECRET, ns_name, {pod_spec.HF_TOKEN_KEY: args.hf_token}
                ),
                in_ns,
            )
        wandb = cfg.wandb_target()
        if args.wandb_api_key is not None and wandb is not None and cfg.training_jobs:
            made[rc.secret_need(wandb_env.SECRET)] = _declare(
                f"{name}-wandb-api-key",
                pod_spec.render_secret(
                    wandb_env.SECRET, ns_name, {wandb_env.SECRET_KEY: args.wandb_api_key}
                ),
                in_ns,
            )
        for vol_name, claim in claims(cfg).items():
            made[rc.claim_need(claim)] = _declare(
                f"{name}-pvc-{vol_name}",
                pod_spec.render_pvc(vol_name, cfg.volumes[vol_name], ns_name),
                in_ns,
            )
        if service_account is not None:
            made[rc.service_account_need(service_account)] = _declare(
                f"{name}-sa", pod_spec.render_service_account(service_account, ns_name), in_ns
            )
            if args.identity is not None:
                made[rc.identity_need(service_account)] = args.identity
        identity_id = args.identity.id if args.identity is not None else None

        pools = cfg.pools()
        emf_env = observability.trainer_env(cfg.cluster.name) if cfg.observability.enabled else {}
        self.jobs = {
            job_name: TrainingJob(
                job_name,
                TrainingJobArgs(
                    config=job,
                    namespace=ns_name,
                    image=args.image,
                    pool=pools[job.node_pool],
                    volume_name=job.checkpoint_volume,
                    volume=cfg.volumes[job.checkpoint_volume],
                    service_account=service_account,
                    artifacts_bucket=args.artifacts_bucket,
                    identity=identity_id,
                    emf_env=emf_env,
                    provider=args.provider,
                    depends_on=[*base, *rc.prerequisites(contracts.jobs[job_name], made)],
                    wandb=wandb,
                    queue_metadata=_queue_metadata(cfg, job_name),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for job_name, job in cfg.training_jobs.items()
        }

        self.servers = self._servers(name, cfg, args, in_ns, base, contracts, made)

        self.dev_pod = None
        if contracts.dev_pod is not None:
            if cfg.dev_pod.ssh and args.ssh_keys is not None:
                made[rc.secret_need(dev_pod.SSH_SECRET)] = _declare(
                    f"{name}-dev-ssh",
                    pod_spec.render_secret(
                        dev_pod.SSH_SECRET, ns_name, {"authorized_keys": args.ssh_keys}
                    ),
                    in_ns,
                )
            self.dev_pod = self._dev_pod(
                name,
                cfg,
                args,
                in_ns,
                [*base, *rc.prerequisites([contracts.dev_pod], made)],
                pool=pools[cfg.dev_pod.node_pool],
                service_account=service_account,
                identity_id=identity_id,
            )
        self.register_outputs(
            {"namespace": ns_name, "jobs": sorted(self.jobs), "serving": sorted(self.servers)}
        )

    def _servers(
        self,
        name: str,
        cfg: PlatformConfig,
        args: WorkloadsArgs,
        in_ns: pulumi.ResourceOptions,
        base: list[pulumi.Resource],
        contracts: StackContracts,
        made: dict[str, object],
    ) -> dict[str, ServingJob]:
        """Every `servingJobs` entry, with the serving ServiceAccount when one of them reads its
        model from S3 under it."""
        account = serving_service_account(cfg)
        if any(c.service_account == account for c in contracts.serving.values()):
            assert account is not None
            made[rc.service_account_need(account)] = _declare(
                f"{name}-serving-sa",
                pod_spec.render_service_account(account, cfg.jobs_namespace),
                in_ns,
            )
            if args.serving_identity is not None:
                made[rc.identity_need(account)] = args.serving_identity
        identity = args.serving_identity.id if args.serving_identity is not None else None
        pools = cfg.pools()
        out = {}
        for server, s in cfg.serving_jobs.items():
            contract = contracts.serving[server]
            source = s.source
            out[server] = ServingJob(
                server,
                ServingJobArgs(
                    config=s,
                    namespace=cfg.jobs_namespace,
                    image=args.engine_image or "",
                    fetch_image=args.image,
                    pool=pools[s.node_pool],
                    provider=args.provider,
                    depends_on=[
                        *base,
                        *([args.engine] if args.engine and s.image is None else []),
                        *rc.prerequisites([contract], made),
                    ],
                    volume=cfg.volumes.get(source.volume or ""),
                    service_account=contract.service_account,
                    artifacts_bucket=args.artifacts_bucket,
                    identity=identity if contract.aws_identity else None,
                ),
                pulumi.ResourceOptions(parent=self),
            )
        return out

    def _dev_pod(
        self,
        name: str,
        cfg: PlatformConfig,
        args: WorkloadsArgs,
        in_ns: pulumi.ResourceOptions,
        ready: list[pulumi.Resource],
        pool: PoolFacts,
        service_account: str | None,
        identity_id: pulumi.Output[str] | None,
    ):
        d = cfg.dev_pod
        volume = cfg.volumes.get(d.volume) if d.volume else None
        manifest = pulumi.Output.all(args.image, identity_id).apply(
            lambda values: dev_pod.render_pod(
                d,
                namespace=cfg.jobs_namespace,
                image=values[0],
                pool=pool,
                volume_name=d.volume,
                volume=volume,
                service_account=service_account,
                identity=values[1],
            )
        )
        pod_opts = pulumi.ResourceOptions.merge(
            in_ns,
            pulumi.ResourceOptions(
                depends_on=ready, replace_on_changes=["spec"], delete_before_replace=True
            ),
        )
        # An idle-stopped pod (Succeeded) is not drift: `up` diffs inputs, which a refresh
        # rebuilds from the live spec, unchanged; with skipAwait a refresh does not run the Pod
        # awaiter either, and a 404 (the pod collected after its node went) is read as deleted,
        # so `up --refresh` then creates it again (pulumi-kubernetes v4.32.0
        # provider/pkg/await/await.go Read, provider/pkg/provider/provider.go Read).
        pod = k8s.core.v1.Pod(
            f"{name}-dev-pod", metadata=manifest["metadata"], spec=manifest["spec"], opts=pod_opts
        )
        service = dev_pod.render_load_balancer(d, cfg.jobs_namespace)
        if service is not None:
            _declare(f"{name}-dev-lb", service, in_ns)
        return pod
