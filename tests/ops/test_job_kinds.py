"""The table of job kinds (trainstack/ops/job_kinds.py): the kinds `status` and `logs` know are the
kinds the stack renders, and a new kind is one table row for jobs.py."""

from __future__ import annotations

import dataclasses

import pytest
from fake_apiserver import FakeApiServer, from_routes
from kubernetes import client as k8s

from components import training_job
from trainstack.ops import doctor, job_kinds, jobs, pytorchjob, trainjob


def test_the_kinds_known_are_the_kinds_the_stack_renders():
    """components/training_job.py's KINDS (apiVersion, kind) per framework, and doctor's CRDs
    (Trainer v2's only where a stack installs it)."""
    known = {(f"{k.group}/{k.version}", k.kind) for k in job_kinds.KINDS}
    assert known == set(training_job.KINDS.values())
    for kind in job_kinds.KINDS:
        assert f"{kind.plural}.{kind.group}" in {**doctor.REQUIRED_CRDS, **doctor.OPTIONAL_CRDS}


def test_kind_of_a_job():
    assert job_kinds.kind_of({"kind": "RayJob"}).plural == "rayjobs"
    assert job_kinds.kind_of({"kind": "PyTorchJob"}) is pytorchjob.KIND
    assert job_kinds.kind_of({"kind": "TrainJob"}) is trainjob.KIND
    with pytest.raises(ValueError, match="'TFJob' \\(PyTorchJob, RayJob, TrainJob\\)"):
        job_kinds.kind_of({"kind": "TFJob"})


def test_a_new_kind_is_one_row(monkeypatch, tmp_path):
    """jobs.py finds, lists and reads a kind it has no code for, from its table row alone."""
    tfjob = dataclasses.replace(pytorchjob.KIND, kind="TFJob", plural="tfjobs")
    kinds = (*job_kinds.KINDS, tfjob)
    monkeypatch.setattr(job_kinds, "KINDS", kinds)
    monkeypatch.setattr(jobs, "KINDS", kinds)
    job = {"metadata": {"name": "tf", "namespace": "ml"}, "status": {}}
    api = FakeApiServer(
        from_routes(
            {
                "/apis/kubeflow.org/v1/namespaces/ml/tfjobs/tf": job,
                "/apis/kubeflow.org/v1/tfjobs": {"items": [job]},
                "/api/v1/namespaces/ml/pods": k8s.V1PodList(items=[]),
            }
        )
    )
    try:
        client = k8s.ApiClient(k8s.Configuration(host=api.url))
        found = jobs.get_job(client, "tf", "ml")
        assert found["kind"] == "TFJob"
        assert jobs.find_elsewhere(client, "tf") == [("TFJob", "ml")]
        assert jobs.list_pods(k8s.CoreV1Api(client), found, "ml") == []
    finally:
        api.close()
    asked = [path for path, _ in api.requests]
    assert asked[:4] == [
        "/apis/kubeflow.org/v1/namespaces/ml/pytorchjobs/tf",
        "/apis/ray.io/v1/namespaces/ml/rayjobs/tf",
        "/apis/trainer.kubeflow.org/v1alpha1/namespaces/ml/trainjobs/tf",
        "/apis/kubeflow.org/v1/namespaces/ml/tfjobs/tf",
    ]
