"""Plans with every kind of workload, and the pod templates of the objects that create pods:
shared by the runtime-flow and dependency-order tests."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import support
import yaml

from trainstack.offline import plan as offline_plan

ROOT = Path(__file__).resolve().parents[1]


def project_with_secrets(tmp: Path, source: str, stack: str, edit) -> Path:
    """A copy of the project in `tmp` whose stack `stack` is `Pulumi.<source>.yaml` holding
    both stack secrets (the HF token, the dev pod's ssh keys), then edited by `edit(config)`."""
    for f in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / f, tmp / f)
    data = yaml.safe_load((ROOT / f"Pulumi.{source}.yaml").read_text())
    conf = data["config"]
    conf["trainstack:hfToken"] = {"secure": "v1:AAAA"}
    conf["trainstack:devPodSshKeys"] = {"secure": "v1:BBBB"}
    conf["trainstack:dockerHubToken"] = {"secure": "v1:CCCC"}
    conf["trainstack:dockerHubUser"] = "trainstack-ci"
    edit(conf)
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(data))
    return tmp


def full_project(tmp: Path) -> Path:
    """The efa stack (a PyTorchJob, here with its own hung factor, and a RayJob, artifacts,
    notifications, a stopped server of an S3 export) plus an email subscription, the dev pod
    with ssh and a load balancer, the HF token, Weights & Biases (its key and project), the same
    training as a TrainJob (so Kubeflow Trainer v2 is installed beside the training operator),
    and running servers of a hub model and of a volume's model (with the Docker Hub credential
    the engine image is pulled with): every workload and optional part the stack renders."""

    def edit(conf: dict) -> None:
        conf["trainstack:notifications"]["emails"] = ["ml-platform@example.com"]
        conf["trainstack:wandbApiKey"] = {"secure": "v1:DDDD"}
        conf["trainstack:wandb"] = {"project": "llm-pretraining", "entity": "ml-team"}
        conf["trainstack:trainingJobs"]["llama-8b"]["hfToken"] = True
        conf["trainstack:trainingJobs"]["llama-8b"]["hungFactor"] = 30
        fixed = {k: v for k, v in conf["trainstack:trainingJobs"]["llama-8b"].items()}
        del fixed["minNodes"], fixed["maxNodes"], fixed["hungFactor"]
        conf["trainstack:trainingJobs"]["llama-trainjob"] = {
            **fixed,
            "framework": "trainjob",
            "nodes": 4,
        }
        conf["trainstack:devPod"] = {
            "enabled": True,
            "nodePool": "efa",
            "ssh": True,
            "volume": "checkpoints",
            "loadBalancerCidrs": ["198.51.100.0/24"],
        }
        conf["trainstack:servingJobs"].update(
            {
                "qwen": {
                    "model": "hf://Qwen/Qwen2.5-0.5B-Instruct@main",
                    "hfToken": True,
                    "nodePool": "efa",
                    # 14 attention heads: no tensor parallel 4; two engines of one GPU each.
                    "gpus": 2,
                    "tensorParallelSize": 1,
                    "maxModelLen": 4096,
                    "replicas": 1,
                },
                "from-volume": {
                    "model": "volume://checkpoints/models/llama-8b",
                    "nodePool": "efa",
                    "gpus": 4,
                    "maxModelLen": 8192,
                    "replicas": 1,
                },
            }
        )

    return project_with_secrets(tmp, "efa", "full", edit)


def pod_templates(m: dict) -> list[tuple[str, dict]]:
    """The pod templates of a manifest that creates pods, by part."""
    spec = m.get("spec") or {}
    if m["kind"] == "PyTorchJob":
        return [(r.lower(), s["template"]) for r, s in spec["pytorchReplicaSpecs"].items()]
    if m["kind"] == "RayJob":
        cluster = spec["rayClusterSpec"]
        return [
            ("head", cluster["headGroupSpec"]["template"]),
            *[(f"worker-{g['groupName']}", g["template"]) for g in cluster["workerGroupSpecs"]],
            ("submitter", spec["submitterPodTemplate"]),
        ]
    if m["kind"] == "TrainingRuntime":  # a TrainJob's pods (components/trainjob.py)
        jobs = spec["template"]["spec"]["replicatedJobs"]
        return [(j["name"], j["template"]["spec"]["template"]) for j in jobs]
    if m["kind"] == "Pod":
        return [("pod", {"metadata": m["metadata"], "spec": m["spec"]})]
    if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [("pod", spec["template"])]
    return []


@functools.cache
def stack_plan(stack: str) -> offline_plan.PlanResult:
    """The plan of the dev or efa stack (support.plan's, shared) or of "full" (full_project),
    computed once per test process."""
    if stack == "full":
        return offline_plan.run(full_project(Path(tempfile.mkdtemp())), "full")
    return support.plan(stack)
