"""doctor's node health (trainstack/ops/doctor/node_health.py) on client models: each False
condition of the node monitoring agent with its reason and message, a node not Ready, GPUs that
are not allocatable, and GPU nodes the agent does not report on."""

from __future__ import annotations

import copy

from doctor_support import SYSTEM, by_name, gpu_node
from kubernetes import client as k8s

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK, WARN


def fault(n, kind, reason, message, status="False"):
    """A copy of `n` (never the shared SYSTEM itself) with its `kind` condition replaced, as the
    agent or the kubelet reports it."""
    n = copy.deepcopy(n)
    conds = [c for c in n.status.conditions if c.type != kind]
    conds.append(k8s.V1NodeCondition(type=kind, status=status, reason=reason, message=message))
    n.status.conditions = conds
    return n


def results(nodes):
    return by_name(doctor.check_node_health(nodes))


def test_healthy_nodes_pass():
    found = results([SYSTEM, gpu_node("g-1"), gpu_node("g-2", gpu=8, efa=4)])
    assert found["node health"].status == OK and "3 node(s)" in found["node health"].detail
    assert found["node monitoring agent"].status == OK


def test_a_gpu_node_says_why_it_is_unhealthy():
    xid = fault(
        gpu_node("g-xid"),
        "AcceleratedHardwareReady",
        "NvidiaXID79Error",
        "detected XID-79 on the instance, review kernel logs for additional information.",
    )
    lost = fault(
        gpu_node("g-lost"), "Ready", "NodeStatusUnknown", "Kubelet stopped posting", "Unknown"
    )
    no_plugin = gpu_node("g-noplugin", gpu=0)  # no nvidia.com/gpu in capacity at all
    retired = gpu_node("g-retired", capacity={"nvidia.com/gpu": "4"})  # 4 in allocatable ...
    retired.status.allocatable["nvidia.com/gpu"] = "3"  # ... of which one went unhealthy
    net = fault(SYSTEM, "NetworkingReady", "IPAMDNotReady", "IPAMD fails to connect")
    result = results([net, gpu_node("g-ok"), xid, lost, no_plugin, retired])["node health"]
    assert result.status == FAIL and "5 of 6 node(s) unhealthy" in result.detail
    detail = result.detail
    assert (
        "g-xid: AcceleratedHardwareReady False (NvidiaXID79Error): detected XID-79 on the "
        "instance" in detail
    )
    assert "g-lost: Ready Unknown (NodeStatusUnknown): Kubelet stopped posting" in detail
    assert "g-noplugin: no nvidia.com/gpu in its capacity" in detail
    assert "g-retired: 3 of 4 nvidia.com/gpu allocatable" in detail
    assert "sys-1: NetworkingReady False (IPAMDNotReady): IPAMD fails to connect" in detail
    assert "g-ok" not in detail
    assert "10 min" in result.why and "kubectl describe node g-lost" in result.fix


def test_gpu_nodes_without_the_agents_condition_warn():
    silent = gpu_node("g-2", agent=False)
    result = results([SYSTEM, gpu_node("g-1"), silent])["node monitoring agent"]
    assert result.status == WARN and "g-2" in result.detail and "g-1" not in result.detail
    assert "nodeHealth.monitoringAgent" in result.fix


def test_the_report_carries_node_health():
    text = doctor.render(doctor.kube_results(doctor.ClusterObjects(nodes=[SYSTEM])))
    assert "node health" in text and "node monitoring agent" in text
