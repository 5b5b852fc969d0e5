"""`trainstack doctor` end to end (trainstack/ops/doctor/command.py): moto for AWS, a local HTTP
server for the Kubernetes API, the command's output and exit codes."""

from __future__ import annotations

import pytest
from doctor_support import ALL_CRDS, CLUSTER, REGION, api_routes, healthy, make_cluster
from fake_apiserver import FakeApiServer, from_routes, serve, write_kubeconfig
from kubernetes import client as k8s

from trainstack import cli


@pytest.fixture
def fake_api():
    yield from serve(lambda routes: FakeApiServer(from_routes(routes)))


def test_doctor_command_end_to_end(aws, fake_api, tmp_path, capsys, monkeypatch):
    desc = make_cluster(aws)
    server = fake_api(api_routes(healthy()))
    # update-kubeconfig names the context after the cluster ARN; other contexts are ignored.
    config = write_kubeconfig(tmp_path / "config", server.url, desc["arn"])
    code = cli.main(["doctor", "--region", REGION, "--kubeconfig", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"Cluster {CLUSTER} ({REGION}, Kubernetes 1.34)")
    assert "✘" not in out and "✔ GPU nodes" in out

    routes = api_routes(healthy())
    routes["/apis/apiextensions.k8s.io/v1/customresourcedefinitions"] = (
        k8s.V1CustomResourceDefinitionList(items=ALL_CRDS[:-1])
    )
    other = fake_api(routes)
    config = write_kubeconfig(tmp_path / "config2", other.url, desc["arn"])
    monkeypatch.setenv("KUBECONFIG", str(config))  # found through $KUBECONFIG this time
    assert cli.main(["doctor", "--region", REGION]) == 1
    out = capsys.readouterr().out
    assert "✘ CRDs" in out and "ec2nodeclasses.karpenter.k8s.aws" in out and "fix: " in out


def test_doctor_without_kubeconfig_context(aws, tmp_path, capsys):
    make_cluster(aws)
    config = write_kubeconfig(
        tmp_path / "config", "https://elsewhere.example", "some-other-cluster"
    )
    assert cli.main(["doctor", "--region", REGION, "--kubeconfig", str(config)]) == 1
    out = capsys.readouterr().out
    assert "✘ kubeconfig" in out
    assert f"fix: aws eks update-kubeconfig --name {CLUSTER} --region {REGION}" in out


def test_several_clusters_need_a_choice(aws, capsys):
    make_cluster(aws, name="a")
    make_cluster(aws, name="b")
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert "a, b; choose one with --cluster" in capsys.readouterr().err
    assert cli.main(["doctor", "--region", REGION, "--cluster", "zz"]) == 2


def test_no_cluster_in_region(aws, capsys):
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert f"no EKS cluster in {REGION}" in capsys.readouterr().err


def test_no_aws_credentials_is_a_start_failure(monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role probe
    assert cli.main(["doctor", "--region", REGION]) == 2
    assert "credentials" in capsys.readouterr().err.lower()
