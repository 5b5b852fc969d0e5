"""The hardening table's path language and weakenings (policies/mutate.py), on small inputs:
each place a path reaches is weakened alone, in a copy."""

from __future__ import annotations

import json

from policies.mutate import REMOVE, mutations, parse, remove_items, set_to


def test_parse_splits_dots_but_not_quoted_keys():
    assert parse('metadata.labels["pod-security.kubernetes.io/enforce"]') == (
        "metadata",
        "labels",
        "pod-security.kubernetes.io/enforce",
    )
    assert parse("rules[*].sseAlgorithm") == ("rules", "*", "sseAlgorithm")
    assert parse("policy.@json.Statement") == ("policy", "@json", "Statement")


def test_each_place_is_weakened_alone_and_the_input_is_left_intact():
    props = {"rules": [{"a": 1}, {"a": 2}, {"b": 3}]}
    out = list(mutations(props, parse("rules[*].a"), REMOVE))
    assert [w for w, _ in out] == ["rules[0].a", "rules[1].a"]
    assert out[0][1] == {"rules": [{}, {"a": 2}, {"b": 3}]}
    assert out[1][1] == {"rules": [{"a": 1}, {}, {"b": 3}]}
    assert props == {"rules": [{"a": 1}, {"a": 2}, {"b": 3}]}


def test_a_weakening_that_changes_nothing_is_not_a_mutation():
    assert list(mutations({"x": False}, parse("x"), set_to(False))) == []
    assert list(mutations({"y": 1}, parse("x"), REMOVE)) == []


def test_json_documents_are_weakened_inside_and_written_back():
    doc = {"Statement": [{"Effect": "Deny", "Sid": "tls"}, {"Effect": "Allow"}]}
    deny = remove_items("drop Deny", lambda s: s.get("Effect") == "Deny")
    [(where, new)] = mutations({"policy": json.dumps(doc)}, parse("policy.@json.Statement"), deny)
    assert where == "policy.Statement"
    assert json.loads(new["policy"]) == {"Statement": [{"Effect": "Allow"}]}


def test_pod_and_container_anchors_find_every_template():
    job = {
        "spec": {
            "replicas": {
                "Master": {
                    "template": {
                        "spec": {
                            "hostNetwork": False,
                            "containers": [{"name": "m", "securityContext": {}}],
                        }
                    }
                },
                "Worker": {
                    "template": {
                        "spec": {
                            "hostNetwork": False,
                            "initContainers": [{"name": "i", "securityContext": {}}],
                            "containers": [{"name": "w", "securityContext": {}}],
                        }
                    }
                },
            }
        }
    }
    # Only inputs the plan has are weakened: a missing key is not a place.
    pods = [w for w, _ in mutations(job, parse("<pod>.hostNetwork"), set_to(True))]
    assert pods == [
        "spec.replicas.Master.template.spec.hostNetwork",
        "spec.replicas.Worker.template.spec.hostNetwork",
    ]
    found = list(mutations(job, parse("<container>.securityContext"), set_to({"privileged": True})))
    assert [w for w, _ in found] == [
        "spec.replicas.Master.template.spec.containers[0].securityContext",
        "spec.replicas.Worker.template.spec.initContainers[0].securityContext",
        "spec.replicas.Worker.template.spec.containers[0].securityContext",
    ]
