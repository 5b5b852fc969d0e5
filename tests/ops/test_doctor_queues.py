"""doctor's Kueue checks: the optional add-ons (Kueue, Kubeflow Trainer, JobSet) checked where
their CRDs are, and the ClusterQueues' Active condition (trainstack/ops/doctor/queues.py), with
the condition as kueue v0.19.2 writes it (pkg/cache/scheduler/cache.go ClusterQueueActive,
clusterqueue.go inactiveReason)."""

from __future__ import annotations

from doctor_support import (
    ACTIVE_QUEUES,
    ADDON_CRDS,
    KUEUE_CRDS,
    by_name,
    cluster_queue,
    crd,
    healthy,
    with_addons,
)

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK, WARN


def test_addons_a_stack_left_out_are_not_installed_not_missing():
    results = by_name(doctor.kube_results(healthy()))
    for title in ("Kueue", "Kubeflow Trainer", "JobSet"):
        assert results[title].status == OK and "not installed" in results[title].detail
    assert "Kueue queues" not in results  # no Kueue: no queues to judge


def test_installed_addons_and_active_queues_pass():
    results = by_name(doctor.kube_results(with_addons()))
    assert [r for r in results.values() if r.status != OK] == []
    assert results["Kueue"].detail == "kueue-controller-manager: 2/2 ready"
    assert results["Kueue queues"].detail == "2 ClusterQueue(s) Active"


def test_an_unestablished_kueue_crd_fails():
    objs = with_addons()
    objs.crds[-len(ADDON_CRDS)] = crd(KUEUE_CRDS[0], established=False)
    result = by_name(doctor.kube_results(objs))["CRDs"]
    assert result.status == FAIL and "clusterqueues.kueue.x-k8s.io not Established" in result.detail


def test_an_inactive_cluster_queue_fails_with_kueues_reason():
    objs = with_addons()
    message = "Can't admit new workloads: references missing ResourceFlavor(s): g5."
    objs.cluster_queues = [
        ACTIVE_QUEUES[1],
        cluster_queue("g5", "False", "FlavorNotFound", message),
    ]
    result = by_name(doctor.kube_results(objs))["Kueue queues"]
    assert result.status == FAIL
    assert result.detail == f"g5: Inactive (FlavorNotFound: {message})"
    assert "kubectl describe clusterqueue g5" in result.fix
    stopped = [cluster_queue("g5", "False", "Stopped", "Can't admit new workloads: is stopped.")]
    objs.cluster_queues = stopped
    result = by_name(doctor.kube_results(objs))["Kueue queues"]
    assert result.status == FAIL and "stopPolicy" in result.fix


def test_no_cluster_queue_fails_and_an_unreconciled_one_warns():
    objs = with_addons()
    objs.cluster_queues = []
    assert by_name(doctor.kube_results(objs))["Kueue queues"].status == FAIL
    objs.cluster_queues = [ACTIVE_QUEUES[0], cluster_queue("team-a", status="")]
    result = by_name(doctor.kube_results(objs))["Kueue queues"]
    assert result.status == WARN and "team-a" in result.detail
