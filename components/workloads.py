"""Workloads: the jobs namespace, the secrets jobs read, the checkpoint volumes, every training
job of `trainingJobs` and the optional dev pod, running the image built by this stack (or a job's
own ECR image, config/job_runs.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import dev_pod, network_policy, pod_spec
from .config import PlatformConfig, PoolFacts
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


@dataclass
class WorkloadsArgs:
    config: PlatformConfig
    image: pulumi.Input[str]  # <repository>@sha256:<digest>
    provider: k8s.Provider
    # The operators' CRDs and the device plugins must exist before a job is declared.
    depends_on: list[pulumi.Resource]
    hf_token: pulumi.Output[str] | None = None
    artifacts_bucket: pulumi.Output[str] | None = None  # None: artifacts disabled
    ssh_keys: pulumi.Output[str] | None = None


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
        ready: list[pulumi.Resource] = [namespace, *args.depends_on]
        lb = dev_pod.render_load_balancer(cfg.dev_pod, ns_name) if cfg.dev_pod.enabled else None
        for policy in network_policy.render_all(
            ns_name,
            list(cfg.training_jobs),
            [p["port"] for p in lb["spec"]["ports"]] if lb else None,
            vpc_cidr=None if cfg.network.interface_endpoints else str(cfg.network.cidr),
        ):
            ready.append(_declare(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns))

        if args.hf_token is not None and any(j.hf_token for j in cfg.training_jobs.values()):
            ready.append(
                _declare(
                    f"{name}-hf-token",
                    pod_spec.render_secret(
                        pod_spec.HF_TOKEN_SECRET, ns_name, {pod_spec.HF_TOKEN_KEY: args.hf_token}
                    ),
                    in_ns,
                )
            )
        for vol_name, vol in cfg.volumes.items():
            if vol.existing_claim is None:
                ready.append(
                    _declare(
                        f"{name}-pvc-{vol_name}", pod_spec.render_pvc(vol_name, vol, ns_name), in_ns
                    )
                )

        service_account = cfg.artifacts.service_account if cfg.artifacts.enabled else None
        if service_account is not None:
            ready.append(
                _declare(
                    f"{name}-sa",
                    pod_spec.render_service_account(service_account, ns_name),
                    in_ns,
                )
            )

        pools = cfg.pools()
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
                    provider=args.provider,
                    depends_on=ready,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for job_name, job in cfg.training_jobs.items()
        }

        self.dev_pod = None
        if cfg.dev_pod.enabled:
            self.dev_pod = self._dev_pod(
                name,
                cfg,
                args,
                in_ns,
                ready,
                pool=pools[cfg.dev_pod.node_pool],
                service_account=service_account,
            )
        self.register_outputs({"namespace": ns_name, "jobs": sorted(self.jobs)})

    def _dev_pod(
        self,
        name: str,
        cfg: PlatformConfig,
        args: WorkloadsArgs,
        in_ns: pulumi.ResourceOptions,
        ready: list[pulumi.Resource],
        pool: PoolFacts,
        service_account: str | None,
    ):
        d = cfg.dev_pod
        needs = list(ready)
        if d.ssh and args.ssh_keys is not None:
            needs.append(
                _declare(
                    f"{name}-dev-ssh",
                    pod_spec.render_secret(
                        dev_pod.SSH_SECRET, cfg.jobs_namespace, {"authorized_keys": args.ssh_keys}
                    ),
                    in_ns,
                )
            )
        volume = cfg.volumes.get(d.volume) if d.volume else None
        manifest = pulumi.Output.from_input(args.image).apply(
            lambda image: dev_pod.render_pod(
                d,
                namespace=cfg.jobs_namespace,
                image=image,
                pool=pool,
                volume_name=d.volume,
                volume=volume,
                service_account=service_account,
            )
        )
        pod_opts = pulumi.ResourceOptions.merge(
            in_ns,
            pulumi.ResourceOptions(
                depends_on=needs, replace_on_changes=["spec"], delete_before_replace=True
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
