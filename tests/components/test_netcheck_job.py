"""`trainstack netcheck`'s rendered job and a training job's `netcheck: true`: valid against the
pinned CRDs, restricted, allowed rank to rank by its network policy, permanent on failure."""

from __future__ import annotations

import pytest
from job_support import IMAGE, errors, job, pod_of, rendered, stack
from netpol_eval import ClusterModel, Pod

import policies
from components import config, job_contracts, netcheck_job, network_policy
from components.training_job import JobTarget
from trainstack.offline import schemas

SETTING = job_contracts.JobSetting(None, "10.0.0.0/16", None)


def _netcheck(pool: str = "gpu-g5", nodes: int = 2) -> list[dict]:
    cfg = config.parse(stack())
    facts = cfg.pools()[pool]
    target = JobTarget("training", IMAGE, facts, "ckpt", cfg.volumes["ckpt"])
    j = netcheck_job.job_config(pool, facts, nodes, "ckpt")
    return netcheck_job.render_netcheck(netcheck_job.job_name(pool), j, target, SETTING)


@pytest.mark.usefixtures("pinned_crds")
def test_the_netcheck_job_validates_passes_the_pack_and_its_ranks_may_talk():
    manifest, *netpols = _netcheck()
    assert schemas.validate_object(manifest, "1.34") == []
    for p in netpols:
        assert schemas.validate_object(p, "1.34") == []
    found = policies.check_resource("kubernetes:kubeflow.org/v1:PyTorchJob", manifest)
    assert [(r.name, m) for r, level, m in found if level == "mandatory"] == []
    master = pod_of(manifest)
    assert master["securityContext"]["runAsNonRoot"] is True
    cmd = master["containers"][0]["command"]
    assert "trainer.netcheck" in cmd and "--backoff-limit=0" in cmd
    labels = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"]
    model = ClusterModel(
        [network_policy.render_default_deny("training"), *netpols],
        [
            Pod("m", "training", labels, "10.1.0.5", "10.0.0.5"),
            Pod("w", "training", labels, "10.1.0.6", "10.0.0.6"),
            Pod("x", "training", {"app": "other"}, "10.1.0.7", "10.0.0.7"),
        ],
    )
    m, w, x = model.pods
    assert model.allowed(w, m, 23456) and model.allowed(m, w, 40000)  # c10d and NCCL ports
    assert not model.allowed(x, m, 23456)


def test_netcheck_true_runs_the_check_before_the_trainer_in_one_torchrun():
    cmd = pod_of(rendered(netcheck=True, nodePool="gpu-g5"))["containers"][0]["command"]
    words = cmd[-1] if cmd[0] == "/bin/sh" else cmd
    joined = " ".join(cmd)
    i = cmd.index("trainer.netcheck")
    assert cmd[i - 1] == "-m" and cmd[cmd.index("--", i) + 1] == "--preset", words
    assert "--expected-gbps" in joined
    plain = pod_of(rendered(nodePool="gpu-g5"))["containers"][0]["command"]
    assert "trainer.netcheck" not in plain


def test_bad_netcheck_values_are_refused_with_the_key():
    issues = errors(trainingJobs={"j": job(netcheck="yes")})
    assert any("netcheck" in i for i in issues), issues
    issues = errors(trainingJobs={"j": job(netcheck=True, framework="ray")})
    assert any("trainingJobs.j.netcheck" in i for i in issues), issues
