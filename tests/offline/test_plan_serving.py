"""The served model of the efa example stack in `trainstack plan` (the session's shared plan): a
stopped server, its GPUs and $/h, and the engine's notice while no Docker Hub credential is set.
The running servers of the "full" stack: tests/components/test_identity_policies.py."""

from __future__ import annotations

from workload_support import stack_plan

from components import engine_image
from trainstack.offline import plan_report

RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
SECRET = "aws:secretsmanager/secret:Secret"


def test_the_efa_plan_shows_its_stopped_server():
    result = stack_plan("efa")
    text = plan_report.summary(result)
    table = text[text.index("Served models") :]
    assert (
        " llama-8b         efa                 0            4   2   2     8192  stopped " in table
    )
    assert "set trainstack:servingJobs.llama-8b.replicas: 1 to serve" in table
    assert "Serving GPUs on `pulumi up`: 0 running, 4 waiting" in table
    assert f"vllm/vllm-openai:{engine_image.VLLM_TAG}@{engine_image.VLLM_DIGEST}" in table
    assert "NOTICE: no pull-through cache rule yet" in table  # no Docker Hub credential
    assert "server llama-8b on efa: stopped (replicas 0), $0/h" in text
    kinds = {(m["kind"], m["metadata"]["name"]) for m in result.manifests}
    assert {("Deployment", "llama-8b"), ("Service", "llama-8b")} <= kinds
    assert not result.plan.of_type(RULE) and not result.plan.of_type(SECRET)
