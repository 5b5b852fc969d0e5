"""Kube access (trainstack/ops/kube.py): finding the kubeconfig context of a cluster."""

from __future__ import annotations

from fake_apiserver import write_kubeconfig

from trainstack.ops import kube


def test_doctor_finds_context_by_endpoint(tmp_path):
    config = write_kubeconfig(
        tmp_path / "config", "https://ABC.gr7.us-west-2.eks.amazonaws.com/", "my-alias"
    )
    found = kube.find_context(
        [config],
        arn="arn:aws:eks:...:cluster/x",
        endpoint="https://abc.gr7.us-west-2.eks.amazonaws.com",
    )
    assert found == (config, "my-alias")
