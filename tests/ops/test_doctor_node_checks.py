"""doctor's node and CRD checks (trainstack/ops/doctor/node_checks.py) on client model objects."""

from __future__ import annotations

from doctor_support import ALL_CRDS, SYSTEM, by_name, crd, gpu_node, healthy

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK, WARN


def test_healthy_cluster_objects_pass():
    results = doctor.kube_results(healthy())
    assert all(r.status == OK for r in results), doctor.render(results)
    names = by_name(results)
    assert "12 nvidia.com/gpu allocatable" in names["GPU nodes"].detail
    assert "4 vpc.amazonaws.com/efa" in names["EFA nodes"].detail
    assert set(names) >= {
        "Karpenter",
        "NVIDIA device plugin",
        "EFA device plugin",
        "training operator",
        "KubeRay operator",
        "CRDs",
    }


def test_gpu_node_without_gpu_resource_fails():
    result = doctor.check_gpu_nodes([SYSTEM, gpu_node("g-1"), gpu_node("g-bad", gpu=0)])
    assert result.status == FAIL
    assert "1 of 2 Ready node(s) expose no nvidia.com/gpu: g-bad" in result.detail
    assert "spec.nodeName=g-bad" in result.fix and "device plugin" in result.why


def test_no_gpu_nodes_warns_and_not_ready_nodes_warn():
    assert doctor.check_gpu_nodes([SYSTEM]).status == WARN
    # A node still joining has no GPUs yet: a warning, not a device-plugin failure.
    result = doctor.check_gpu_nodes([gpu_node("g-1"), gpu_node("g-new", gpu=0, ready=False)])
    assert result.status == WARN and "NotReady: g-new" in result.detail


def test_efa_node_missing_efa_resource_fails():
    result = doctor.check_efa_nodes([gpu_node("g-1"), gpu_node("g-efa", gpu=8, efa=0)])
    assert result.status == FAIL and "g-efa" in result.detail
    assert "vpc.amazonaws.com/efa" in result.detail
    assert doctor.check_efa_nodes([SYSTEM, gpu_node("g-1")]).status == OK  # none to check


def test_missing_and_unestablished_crds_fail():
    crds = [c for c in ALL_CRDS if c.metadata.name != "rayjobs.ray.io"]
    result = doctor.check_crds(crds)
    assert result.status == FAIL and "missing rayjobs.ray.io (KubeRay (RayJob))" in result.detail
    crds = [crd("pytorchjobs.kubeflow.org", established=False)] + ALL_CRDS[1:]
    result = doctor.check_crds(crds)
    assert result.status == FAIL and "pytorchjobs.kubeflow.org not Established" in result.detail
