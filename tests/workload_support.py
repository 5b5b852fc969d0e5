"""Plans with every kind of workload, and the pod templates of the objects that create pods:
shared by the runtime-flow and dependency-order tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def full_project(tmp: Path) -> Path:
    """The efa stack (a PyTorchJob and a RayJob, artifacts, notifications) plus the dev pod
    with ssh and a load balancer, and the HF token: every workload the stack renders."""
    for f in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / f, tmp / f)
    stack = yaml.safe_load((ROOT / "Pulumi.efa.yaml").read_text())
    conf = stack["config"]
    conf["trainstack:hfToken"] = {"secure": "v1:AAAA"}
    conf["trainstack:devPodSshKeys"] = {"secure": "v1:BBBB"}
    conf["trainstack:trainingJobs"]["llama-8b"]["hfToken"] = True
    conf["trainstack:devPod"] = {
        "enabled": True,
        "nodePool": "efa",
        "ssh": True,
        "volume": "checkpoints",
        "loadBalancerCidrs": ["198.51.100.0/24"],
    }
    (tmp / "Pulumi.full.yaml").write_text(yaml.safe_dump(stack))
    return tmp


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
    if m["kind"] == "Pod":
        return [("pod", {"metadata": m["metadata"], "spec": m["spec"]})]
    if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [("pod", spec["template"])]
    return []
