"""doctor's AWS checks (trainstack/ops/doctor/aws_checks.py): against moto, and on describe_*
dicts. Every check fails once."""

from __future__ import annotations

import pytest
from doctor_support import CLUSTER, REGION, by_name, make_cluster

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK, WARN


def test_aws_checks_pass_on_a_deployed_cluster(aws):
    desc = make_cluster(aws)
    results = doctor.aws_results(aws, desc)
    assert [r.status for r in results] == [OK] * len(results), doctor.render(results)
    names = by_name(results)
    assert set(names) == {
        "cluster",
        "kubernetes version",
        "node group system",
        "interruption queue",
        "interruption rules",
    }
    assert "min 2, max 3" in names["node group system"].detail


def test_missing_interruption_queue_fails(aws):
    desc = make_cluster(aws, queue=False)
    queue = by_name(doctor.aws_results(aws, desc))["interruption queue"]
    assert queue.status == FAIL and f"{CLUSTER}-karpenter not found" in queue.detail
    assert "interruptionQueue" in queue.why


def test_interruption_rules_none_fail_some_warn(aws):
    desc = make_cluster(aws, rules=[])
    assert by_name(doctor.aws_results(aws, desc))["interruption rules"].status == FAIL
    desc = make_cluster(aws, name="other", rules=["spot-interruption", "health"])
    rules = by_name(doctor.aws_results(aws, desc))["interruption rules"]
    assert rules.status == WARN and "EC2 Instance Rebalance Recommendation" in rules.detail


def test_disabled_rule_counts_as_missing(aws):
    desc = make_cluster(aws, rules=["spot-interruption"])
    aws.client("events").disable_rule(Name=f"{CLUSTER}-spot-interruption")
    assert by_name(doctor.aws_results(aws, desc))["interruption rules"].status == FAIL


def test_cluster_status_health_and_version():
    base = {"name": CLUSTER, "status": "ACTIVE", "version": "1.34", "health": {"issues": []}}
    assert [r.status for r in doctor.check_cluster(base)] == [OK, OK]
    failed = doctor.check_cluster({**base, "status": "FAILED"})[0]
    assert failed.status == FAIL and failed.fix
    assert doctor.check_cluster({**base, "status": "UPDATING"})[0].status == WARN
    sick = doctor.check_cluster(
        {
            **base,
            "health": {
                "issues": [{"code": "Ec2SubnetNotFound", "message": "subnet-1 was deleted"}]
            },
        }
    )[0]
    assert sick.status == FAIL and "Ec2SubnetNotFound" in sick.detail
    old = doctor.check_cluster({**base, "version": "1.29"})[1]
    assert old.status == FAIL and "kubernetesVersion" in old.fix
    assert doctor.check_cluster({**base, "version": "1.36"})[1].status == WARN


def test_node_group_health_issue_and_absence():
    group = {
        "nodegroupName": "system",
        "status": "DEGRADED",
        "health": {
            "issues": [
                {"code": "AsgInstanceLaunchFailures", "message": "InsufficientInstanceCapacity"}
            ]
        },
    }
    result = doctor.check_nodegroups(CLUSTER, [group])[0]
    assert result.status == FAIL and "AsgInstanceLaunchFailures" in result.detail
    assert "describe-nodegroup" in result.fix
    degraded = doctor.check_nodegroups(CLUSTER, [{**group, "health": {"issues": []}}])[0]
    assert degraded.status == FAIL
    assert doctor.check_nodegroups(CLUSTER, [])[0].status == FAIL


def test_cluster_choice():
    assert doctor.pick_cluster(["a"], None, REGION) == "a"
    with pytest.raises(doctor.DoctorError, match="a, b; choose one with --cluster"):
        doctor.pick_cluster(["b", "a"], None, REGION)
    with pytest.raises(doctor.DoctorError, match=r"no EKS cluster 'c'.*a, b"):
        doctor.pick_cluster(["a", "b"], "c", REGION)
    with pytest.raises(doctor.DoctorError, match="no EKS cluster in"):
        doctor.pick_cluster([], None, REGION)
