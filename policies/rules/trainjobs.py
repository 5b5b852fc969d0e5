"""A TrainJob's pods are its runtime's (Kubeflow Trainer v2.2.1): the pack judges the stack's
TrainingRuntime as the pod template it is (base.WORKLOADS), so a TrainJob must run that runtime
and change nothing of it on the way. Anything else would start pods the pack never saw: a
runtime by another name (upstream's torch-distributed, with no security context), a
ClusterTrainingRuntime outside the plan, or the TrainJob's own `trainer` image, command or env,
`initializer` containers or `runtimePatches` (volumes, security contexts, service account),
which the Trainer applies over the runtime's pod (kubeflow/trainer v2.2.1
pkg/runtime/framework/plugins/jobset/builder.go, pkg/runtime/core/trainingruntime.go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, StackRule, get, name_of
from .kube import namespace_of

TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
TRAINING_RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime"
GROUP = "trainer.kubeflow.org"
# What a TrainJob may set of `trainer`: the size of the runtime's pods' job, nothing of a pod.
SIZING = {"numNodes", "numProcPerNode"}
POD_CHANGING = ("initializer", "runtimePatches")


def _problems(props: Mapping[str, Any], runtimes: set[tuple[str, str]]) -> list[str]:
    name, namespace = name_of(props), namespace_of(props)
    ref = get(props, "spec.runtimeRef") or {}
    out = []
    # The CRD defaults an unset kind to ClusterTrainingRuntime and an unset apiGroup to GROUP.
    kind, group = ref.get("kind") or "ClusterTrainingRuntime", ref.get("apiGroup") or GROUP
    if (kind, group) != ("TrainingRuntime", GROUP):
        out.append(
            f"TrainJob {name} runs a {kind} of {group}: run the TrainingRuntime the stack "
            "renders beside it (components/trainjob.py), whose pods the pack checks"
        )
    elif isinstance(ref.get("name"), str) and (namespace, ref["name"]) not in runtimes:
        out.append(
            f"TrainJob {name} runs TrainingRuntime {namespace}/{ref['name']}, which the stack "
            "does not declare: its pods would be ones the pack never checked"
        )
    trainer = get(props, "spec.trainer") or {}
    out += [
        f"TrainJob {name} sets trainer.{k}, which the Trainer applies over its runtime's pod: "
        "set it in the runtime (the job's config), where the pack checks it"
        for k in sorted(set(trainer) - SIZING)
    ]
    spec = props.get("spec") or {}
    out += [
        f"TrainJob {name} sets {k}, which changes its runtime's pods: leave it unset"
        for k in POD_CHANGING
        if spec.get(k)
    ]
    return out


def trainjob_runs_its_runtime(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    runtimes = {
        (namespace_of(props), name_of(props))
        for _h, type_, props, _n in resources
        if type_ == TRAINING_RUNTIME
    }
    return [
        (handle, message)
        for handle, type_, props, _n in resources
        if type_ == TRAINJOB
        for message in _problems(props, runtimes)
    ]


STACK_RULES = [
    StackRule(
        "trainjob-runs-its-runtime",
        "A TrainJob runs a TrainingRuntime of the stack and changes nothing of its pods.",
        MANDATORY,
        trainjob_runs_its_runtime,
        controls=("CIS EKS 4.2.1",),
    ),
]
