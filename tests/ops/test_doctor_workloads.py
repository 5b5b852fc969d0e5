"""doctor's add-on checks (trainstack/ops/doctor/workloads.py): Deployments and DaemonSets."""

from __future__ import annotations

import pytest
from doctor_support import SYSTEM, by_name, daemonset, deployment, gpu_node, healthy, with_addons

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK, WARN


def test_not_ready_daemonset_fails():
    objs = healthy()
    objs.daemonsets[0] = daemonset("kube-system", "nvidia-device-plugin", 2, 1)
    result = by_name(doctor.kube_results(objs))["NVIDIA device plugin"]
    assert result.status == FAIL and "1/2 pods ready" in result.detail
    assert "logs daemonset/nvidia-device-plugin" in result.fix


def test_daemonset_that_skips_gpu_nodes_fails():
    objs = healthy()
    objs.daemonsets[0] = daemonset("kube-system", "nvidia-device-plugin", 1, 1)
    result = by_name(doctor.kube_results(objs))["NVIDIA device plugin"]
    assert result.status == FAIL and "scheduled on 1 of 2 Ready" in result.detail


@pytest.mark.parametrize(
    "title,namespace,name",
    [
        ("Karpenter", "kube-system", "karpenter"),
        ("training operator", "kubeflow", "training-operator"),
        ("KubeRay operator", "kuberay-system", "kuberay-operator"),
        ("Kueue", "kueue-system", "kueue-controller-manager"),
        ("Kubeflow Trainer", "kubeflow-system", "kubeflow-trainer-controller-manager"),
        ("JobSet", "kubeflow-system", "jobset-controller"),
    ],
)
def test_each_operator_missing_or_unready_fails(title, namespace, name):
    objs = with_addons()
    objs.deployments = [d for d in objs.deployments if d.metadata.name != name]
    missing = by_name(doctor.kube_results(objs))[title]
    assert missing.status == FAIL and f"{namespace}/{name}" in missing.detail
    objs.deployments.append(deployment(namespace, name, replicas=1, ready=0))
    unready = by_name(doctor.kube_results(objs))[title]
    assert unready.status == FAIL and "0/1 replicas ready" in unready.detail
    objs.deployments[-1] = deployment(namespace, name, replicas=0, ready=0)
    assert "scaled to 0" in by_name(doctor.kube_results(objs))[title].detail


def test_device_plugins_missing():
    objs = healthy(daemonsets=[])
    results = by_name(doctor.kube_results(objs))
    assert results["NVIDIA device plugin"].status == FAIL
    assert results["EFA device plugin"].status == FAIL  # an EFA node is running
    no_efa = by_name(doctor.kube_results(healthy([SYSTEM, gpu_node("g-1")], daemonsets=[])))
    assert no_efa["EFA device plugin"].status == WARN  # installed only for EFA stacks


def test_chart_derived_workload_names_are_found():
    objs = healthy()
    objs.daemonsets[1] = daemonset("kube-system", "aws-efa-k8s-device-plugin-daemonset", 1, 1)
    assert by_name(doctor.kube_results(objs))["EFA device plugin"].status == OK
