"""A `framework: trainjob` job as Kubeflow Trainer v2 objects: a TrainingRuntime holding the
job's whole pod (the PyTorchJob's, built by training_job.py) and the TrainJob that runs it.

Why a runtime per job, in the jobs namespace, rather than one ClusterTrainingRuntime patched
per job: at v2.2.1 a TrainJob can change a runtime's pods only through `runtimePatches`, which
carry no terminationGracePeriodSeconds (the job's checkpoint budget, v2.3 adds it) and no
failure policy (the job's backoffLimit), and a partial pod in a patch is one the policy pack
could not judge as a pod. So the runtime is the job's blueprint, checked like any pod template,
and the TrainJob only names it and sizes it. The runtime's name carries a digest of its spec:
a changed image, command or volume names a new runtime, so the TrainJob is replaced as a
PyTorchJob is (the Trainer never rebuilds a running JobSet from a changed runtime:
pkg/runtime/framework/plugins/jobset/jobset.go Build).

Pure: the pod template and the job's fields in, manifests out. Facts are from kubeflow/trainer
v2.2.1 (pkg/apis/trainer/v1alpha1, pkg/constants/constants.go) and kubernetes-sigs/jobset
v0.11.0, the JobSet its chart installs.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from jobwatch.trainjob import CONTAINER, PERMANENT_EXIT_CODES, REPLICATED_JOB

API_VERSION = "trainer.kubeflow.org/v1alpha1"
API_GROUP = "trainer.kubeflow.org"
KIND = "TrainJob"
RUNTIME_KIND = "TrainingRuntime"
# The runtime's replicated job whose pods TrainJob.spec.trainer configures, by this label
# (constants.LabelTrainJobAncestor, AncestorTrainer); its container must be named `node`
# (constants.Node), as must, by convention of the torch runtimes, the replicated job.
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
ANCESTOR_TRAINER = "trainer"
# What the Kubeflow SDK lists a runtime under (docs/operator-guides/runtime.md).
FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"
# Where node 0's torchrun serves the c10d store: the torch plugin's PET_MASTER_PORT
# (constants.ContainerTrainerPort), which it also adds as the container's port.
MASTER_PORT = 29500
# The Job recreates a pod that exited 128-255 (a kill, a retryable failure) without counting
# towards a limit, as the training operator's ExitCode policy does (kubeflow/trainer#2045):
# trainer.launch stops a crash loop itself at the job's backoffLimit (trainer/crash_loop.py).
# Kubernetes' Job takes an int32.
UNCOUNTED_BACKOFF = 2**31 - 1
DIGEST_CHARS = 10


def pod_failure_policy() -> dict[str, Any]:
    """The Job's exit-code policy, the PyTorchJob's (restartPolicy ExitCode) in batch/v1 terms:
    an exit of 1-127 from the trainer container fails its Job, and so the JobSet and the
    TrainJob, at once; a pod the cluster disrupted (eviction, preemption, a drained node) is
    recreated without counting; any other failure recreates the pod (its index, so its
    hostname and node rank, stays)."""
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": list(PERMANENT_EXIT_CODES),
                },
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def runtime_spec(
    pod_template: dict[str, Any], *, nodes: int, ttl_seconds_after_finished: int
) -> dict[str, Any]:
    """torch distributed (mlPolicy.torch: the Trainer injects torchrun's PET_* rank layout into
    `node`), one replicated job `node` whose pods are `pod_template` with the container renamed
    by the caller. No JobSet failurePolicy: a failed Job fails the JobSet at once (JobSet
    FailedJobs), as the exit-code policy above intends."""
    template = copy.deepcopy(pod_template)
    template["spec"]["restartPolicy"] = "Never"  # required by podFailurePolicy
    return {
        "mlPolicy": {"numNodes": nodes, "torch": {}},
        "template": {
            "spec": {
                "replicatedJobs": [
                    {
                        "name": REPLICATED_JOB,
                        "template": {
                            "metadata": {"labels": {ANCESTOR_LABEL: ANCESTOR_TRAINER}},
                            "spec": {
                                # One pod per node index, its completion index the node rank.
                                "completionMode": "Indexed",
                                "backoffLimit": UNCOUNTED_BACKOFF,
                                "podFailurePolicy": pod_failure_policy(),
                                "template": template,
                            },
                        },
                    }
                ],
                "ttlSecondsAfterFinished": ttl_seconds_after_finished,
            }
        },
    }


def runtime_name(job_name: str, spec: dict[str, Any]) -> str:
    """`<job>-<digest of the spec>`: a new spec is a new runtime, and a new TrainJob."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"{job_name}-{digest[:DIGEST_CHARS]}"


def render_runtime(
    name: str, namespace: str, spec: dict[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": RUNTIME_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, FRAMEWORK_LABEL: "torch"},
        },
        "spec": spec,
    }


def trainjob_spec(
    runtime: str,
    *,
    nodes: int,
    procs_per_node: int,
    suspend: bool,
    active_deadline_seconds: int | None,
) -> dict[str, Any]:
    """The TrainJob names its runtime and sizes it; everything its pods run is the runtime's.
    `trainer` must be present for the torch plugin to inject the PET_* variables at all
    (torch.go: only `if trainJob.Spec.Trainer != nil`)."""
    spec: dict[str, Any] = {
        "runtimeRef": {"name": runtime, "apiGroup": API_GROUP, "kind": RUNTIME_KIND},
        "trainer": {"numNodes": nodes, "numProcPerNode": procs_per_node},
        "suspend": suspend,
    }
    if active_deadline_seconds is not None:
        # The Trainer fails the TrainJob (reason DeadlineExceeded) past it.
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return spec
