"""What puts a job in Kueue's hands: the queue-name and priority labels and the hold annotation
every job kind's renderer merges into its object's metadata (PyTorchJob and RayJob here,
training_job.py; TrainJob likewise), and the fields Kueue owns from then on.

Kueue, not the stack, decides when a job runs (kubernetes-sigs/kueue v0.19.2
pkg/controller/jobframework/reconciler.go): its webhook creates a queued job suspended, and it
unsuspends the job when the job's queue admits it, whatever `suspend` said before, and suspends
it again when it is preempted or evicted. So the stack creates every queued job suspended and
leaves the field alone (SUSPEND_FIELDS, ignored in Pulumi's diff), and a job's `suspend: true`
means *held*: the job carries the admission gate below from its creation, so its Workload never
reserves quota. Releasing it means removing the gate: `suspend: false` and `pulumi up` (which
replaces the held job, it had no pods), or once, `kubectl annotate <kind> <job>
kueue.x-k8s.io/admission-gated-by-`. Kueue lets a gate be removed but never added after creation
(pkg/util/webhook/validation_admissiongatedby.go), so holding a queued or running job again is a
replace as well (REPLACE_ON).
"""

from __future__ import annotations

from jobwatch.kueue import GATE_ANNOTATION, QUEUE_LABEL

from .config import PlatformConfig
from .config.addons import KUEUE_TRAINJOB_FRAMEWORK

# kueue v0.19.2 pkg/controller/constants/constants.go and pkg/constants/constants.go; the queue
# label and the gate as the job watcher and `trainstack status` read them (jobwatch/kueue.py).
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
# A domain-prefixed gate name of at most 63 characters (validation_admissiongatedby.go).
HELD_GATE = "trainstack.io/held"

# Where each kind keeps the suspend flag Kueue flips: PyTorchJob (kubeflow.org/v1) in its
# runPolicy, RayJob and TrainJob at the top of spec.
SUSPEND_FIELDS = {
    "PyTorchJob": "spec.runPolicy.suspend",
    "RayJob": "spec.suspend",
    "TrainJob": "spec.suspend",
}
# Changes Kueue's webhooks refuse on a live job, so Pulumi replaces the job instead: the queue
# name while the job is not suspended (jobframework/validation.go validateUpdateForQueueName),
# and adding the gate.
REPLACE_ON = (
    f'metadata.labels["{QUEUE_LABEL}"]',
    f'metadata.annotations["{GATE_ANNOTATION}"]',
)


def frameworks(cfg: PlatformConfig) -> list[str]:
    """Kueue's integrations: the job kinds of the operators installed (config/addons.py)."""
    kinds = cfg.addons.kueue_frameworks()
    if cfg.kubeflow_trainer_installed:
        kinds.append(KUEUE_TRAINJOB_FRAMEWORK)
    return kinds


def queued(cfg: PlatformConfig) -> bool:
    """Whether the stack's jobs go through Kueue: addons.kueue, and a job operator to queue."""
    return cfg.addons.queued


def job_labels(cfg: PlatformConfig, job_name: str) -> dict[str, str]:
    """The job's LocalQueue (its team's, else its pool's default queue) and its priority."""
    if not queued(cfg):
        return {}
    job = cfg.training_jobs[job_name]
    labels = {QUEUE_LABEL: job.queue or job.node_pool}
    priority = job.priority or cfg.queues.default_priority
    if priority is not None:
        labels[PRIORITY_LABEL] = priority
    return labels


def job_annotations(cfg: PlatformConfig, job_name: str) -> dict[str, str]:
    """The hold gate of a job that says `suspend: true`."""
    if not queued(cfg) or not cfg.training_jobs[job_name].suspend:
        return {}
    return {GATE_ANNOTATION: HELD_GATE}


def is_queued(labels: dict[str, str]) -> bool:
    """Whether a job with these labels is Kueue's to start (it names a queue)."""
    return QUEUE_LABEL in labels
