"""doctor's Kubernetes side (trainstack/ops/doctor/k8s.py): the fetch layer against a local HTTP
server speaking the API's JSON, and API errors as failed checks."""

from __future__ import annotations

import json

import pytest
from doctor_support import REGION, api_routes, by_name, crd, healthy, make_cluster
from fake_apiserver import FakeApiServer, from_routes, serve, write_kubeconfig
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, OK


@pytest.fixture
def fake_api():
    yield from serve(lambda routes: FakeApiServer(from_routes(routes)))


def test_fetch_objects_reads_the_api(fake_api, tmp_path):
    objs = healthy()
    routes = api_routes(objs)
    del routes["/apis/apps/v1/namespaces/kuberay-system/deployments"]  # namespace absent: 404
    server = fake_api(routes)
    api = k8s.ApiClient(k8s.Configuration(host=server.url))
    fetched = doctor.fetch_objects(api)
    assert [n.metadata.name for n in fetched.nodes] == ["sys-1", "g-1", "g-2"]
    assert fetched.nodes[2].status.allocatable["vpc.amazonaws.com/efa"] == "4"
    assert len(fetched.crds) == len(doctor.REQUIRED_CRDS)
    results = by_name(doctor.kube_results(fetched))
    assert results["KubeRay operator"].status == FAIL
    assert all(r.status == OK for n, r in results.items() if n != "KubeRay operator")
    # One list per kind a namespace's components are: DaemonSets only where the plugins run.
    listed = sorted(
        "/".join(p.split("/")[-2:]) for p, _ in server.requests if p.startswith("/apis/apps/")
    )
    assert listed == [
        "kube-system/daemonsets",
        "kube-system/deployments",
        "kubeflow-system/deployments",
        "kubeflow/deployments",
        "kuberay-system/deployments",
        "kueue-system/deployments",
    ]
    assert not any("kueue.x-k8s.io" in p for p, _ in server.requests)  # no Kueue CRD: not asked


def test_with_kueue_installed_its_cluster_queues_are_read(fake_api):
    objs = healthy()
    objs.crds.append(crd("clusterqueues.kueue.x-k8s.io"))
    routes = api_routes(objs)
    inactive = {"type": "Active", "status": "False", "reason": "Stopped", "message": "stopped"}
    routes["/apis/kueue.x-k8s.io/v1beta2/clusterqueues"] = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueueList",
        "items": [{"metadata": {"name": "g5"}, "status": {"conditions": [inactive]}}],
    }
    fetched = doctor.fetch_objects(k8s.ApiClient(k8s.Configuration(host=fake_api(routes).url)))
    assert [cq["metadata"]["name"] for cq in fetched.cluster_queues] == ["g5"]
    result = by_name(doctor.kube_results(fetched))["Kueue queues"]
    assert result.status == FAIL and result.detail == "g5: Inactive (Stopped: stopped)"


def test_unreachable_private_endpoint_and_forbidden(aws, tmp_path, monkeypatch):
    desc = make_cluster(aws)
    config = write_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", desc["arn"])

    def refuse(api):
        raise MaxRetryError(None, "/api/v1/nodes", "connection refused")

    monkeypatch.setattr(doctor.k8s, "fetch_objects", refuse)
    private = {**desc, "resourcesVpcConfig": {"endpointPublicAccess": False}}
    [result] = doctor.kubernetes_results(private, REGION, str(config))
    assert result.status == FAIL and "private" in result.why and "VPC" in result.fix

    refusal = 'nodes is forbidden: User "arn:aws:sts::1:assumed-role/dev" cannot list nodes'

    def deny(api):
        err = ApiException(status=403, reason="Forbidden")
        err.body = json.dumps({"kind": "Status", "message": refusal, "code": 403})
        raise err

    monkeypatch.setattr(doctor.k8s, "fetch_objects", deny)
    [result] = doctor.kubernetes_results(desc, REGION, str(config))
    assert result.status == FAIL and "adminPrincipals" in result.fix
    assert result.detail == refusal  # the API server's own sentence, not "(403)"
