"""The runtime contracts of a training job's pods, by framework and role (runtime_contract.py).

- PyTorchJob: every replica (Master and Workers) is one role. torchrun's c10d rendezvous on the
  master port, NCCL's socket transport on ephemeral ports: all TCP/UDP between the job's own
  pods. No pod calls the Kubernetes API, and the training operator never calls a pod (it works
  through the API server only).
- TrainJob: the same, its nodes one role; c10d on node 0's port 29500. Neither Kubeflow Trainer
  nor JobSet calls a pod (the Trainer's status server, which pods would call, is behind its
  TrainJobStatus feature gate, off at v2.2.1 and left off: components/operators.py).
- RayJob in K8sJobMode: the head (GCS 6379, dashboard 8265, client 10001, the raylets' dynamic
  ports), the GPU workers, and the submitter Job's pod, which runs `ray job submit` against the
  head's dashboard and nothing else. The KubeRay operator polls the head's dashboard on 8265 for
  the job's status (kuberay v1.7.0 ray-operator/controllers/ray/utils/util.go
  GetRayDashboardClientFunc, rayjob_controller.go): without that flow the job is marked Failed
  once the status check times out, and its cluster deleted.

Pods that run the trainer talk to AWS (S3 checkpoints, STS), the Hugging Face hub and, when the
stack holds a W&B key, Weights & Biases (components/wandb_env.py) over 443,
with the job ServiceAccount's Pod Identity role when the artifacts bucket is on: reading data and
writing checkpoints and models there (artifacts_access.py) is what that role allows them. When the
stack runs the CloudWatch agent (observability.py) they send the trainer's figures to its EMF port.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import artifacts_access, observability, wandb_env
from . import runtime_contract as rc
from .config import TrainingJobConfig
from .operators import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from .pod_spec import HF_TOKEN_SECRET, JOB_LABEL, ROLE_LABEL

RAY_DASHBOARD_PORT = 8265
# The roles' label values (pod templates carry them under ROLE_LABEL).
PYTORCH = "pytorch"
TRAINJOB = "trainjob"
RAY_HEAD = "ray-head"
RAY_WORKER = "ray-worker"
RAY_SUBMITTER = "ray-submitter"
ROLES = {
    "pytorch": (PYTORCH,),
    "trainjob": (TRAINJOB,),
    "ray": (RAY_HEAD, RAY_WORKER, RAY_SUBMITTER),
}
# The roles whose pods train, and so get the W&B key when it is on: not the Ray head, which only
# coordinates (the trainer runs in the Ray Train workers), nor the submitter.
WANDB_ROLES = (PYTORCH, TRAINJOB, RAY_WORKER)


@dataclass(frozen=True)
class JobSetting:
    """What a job's contracts depend on beyond its own config."""

    service_account: str | None  # the artifacts identity's ServiceAccount, or None
    https_except_vpc: str | None  # the VPC CIDR to keep out of the 443 egress, or None
    claim: str | None  # the PersistentVolumeClaim the stack creates for its volume, or None
    emf: bool = False  # the trainer sends its figures to the CloudWatch agent (observability.py)
    wandb: bool = False  # the stack holds a W&B key: the training pods read its Secret


def role_labels(job_name: str, role: str) -> dict[str, str]:
    return {JOB_LABEL: job_name, ROLE_LABEL: role}


def contract_name(job_name: str, role: str) -> str:
    return f"job-{job_name}-{role}"


def contracts(job_name: str, job: TrainingJobConfig, setting: JobSetting) -> list[rc.Contract]:
    trainers = ROLES[job.framework] if job.torchrun else (RAY_HEAD, RAY_WORKER)
    # Every port between the pods that train: rendezvous, NCCL, GCS, raylets, object manager.
    peers = tuple(
        rc.same_pods(f"{role} pods of job {job_name}", role_labels(job_name, role))
        for role in trainers
    )
    needs = []
    if job.hf_token:
        needs.append(rc.secret_need(HF_TOKEN_SECRET))
    if setting.claim is not None:
        needs.append(rc.claim_need(setting.claim))

    agent = (observability.agent_peer(),) if setting.emf else ()
    identity = setting.service_account is not None
    access = artifacts_access.read_data_write_results() if identity else ()

    def trainer_role(role: str, called_by: tuple[rc.Peer, ...] = ()) -> rc.Contract:
        wandb = [rc.secret_need(wandb_env.SECRET)] if setting.wandb and role in WANDB_ROLES else []
        return rc.Contract(
            name=contract_name(job_name, role),
            workload=f"{role} pods of job {job_name}",
            pods=role_labels(job_name, role),
            calls=(rc.dns(), rc.https_outside(setting.https_except_vpc), *peers, *agent),
            called_by=(*peers, *called_by),
            service_account=setting.service_account,
            aws_identity=identity,
            aws_access=access,
            needs=(*needs, *wandb),
        )

    if job.torchrun:
        return [trainer_role(role) for role in ROLES[job.framework]]
    dashboard = (rc.Port(RAY_DASHBOARD_PORT),)
    operator = rc.Peer(
        "KubeRay operator (job status)",
        dashboard,
        pods=KUBERAY_OPERATOR_LABELS,
        namespace=KUBERAY_NAMESPACE,
    )
    head_dashboard = rc.same_pods(
        f"the Ray head of job {job_name} (dashboard)", role_labels(job_name, RAY_HEAD), dashboard
    )
    submitter_pods = rc.same_pods(
        f"the submitter of job {job_name}", role_labels(job_name, RAY_SUBMITTER), dashboard
    )
    submitter = rc.Contract(
        name=contract_name(job_name, RAY_SUBMITTER),
        workload=f"{RAY_SUBMITTER} pod of job {job_name}",
        pods=role_labels(job_name, RAY_SUBMITTER),
        calls=(rc.dns(), head_dashboard),
    )
    return [trainer_role(RAY_HEAD, (submitter_pods, operator)), trainer_role(RAY_WORKER), submitter]
