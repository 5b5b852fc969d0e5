"""The image pipeline and the jobs in the offline plan of the example stacks: ECR, source bucket,
CodeBuild and its scoped role, the build on `up`, and jobs wired to the built digest with the
HF token kept secret end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support import plan
from workload_support import project_with_secrets

from components import image, image_policies, queueing
from components.config import ImageConfig
from trainstack.offline import plan as offline_plan
from trainstack.offline import plan_report
from trainstack.offline.secrets import contains_secrets, mask_secrets, unwrap_secrets

ROOT = Path(__file__).resolve().parents[2]
DIGEST_REF = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9/_.-]+"
    r"@sha256:[0-9a-f]{64}$"
)


def one(result, type_: str) -> dict:
    return unwrap_secrets(result.plan.one(type_).inputs)


# ---------------------------------------------------------------------------- pure renderers


def test_lifecycle_policy_expires_untagged_and_keeps_the_newest_tagged():
    rules = image.render_lifecycle_policy(ImageConfig(untagged_expire_days=3, keep_tagged=10))[
        "rules"
    ]
    assert [r["rulePriority"] for r in rules] == [1, 2, 3]
    assert rules[0]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3,
    }
    assert rules[2]["selection"]["countType"] == "imageCountMoreThan"
    assert rules[2]["selection"]["countNumber"] == 10


def expired_by(policy: dict, images: list[tuple[int, set[str]]]) -> set[int]:
    """ECR's documented evaluation (Amazon ECR User Guide, "Lifecycle policy evaluation rules")
    of count rules over (push order, tags) images: rules in priority order; a rule's tag
    selection matches an image when every pattern matches one of its tags; an image a rule
    matched can be expired by no later rule; beyond countNumber, the oldest matches expire."""
    from fnmatch import fnmatchcase

    claimed: set[int] = set()
    expired: set[int] = set()
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        sel = rule["selection"]
        if sel["countType"] != "imageCountMoreThan":
            continue  # the untagged age rule: no untagged images here
        matched = [
            (pushed, i)
            for i, (pushed, tags) in enumerate(images)
            if i not in claimed
            and tags
            and all(any(fnmatchcase(t, pat) for t in tags) for pat in sel["tagPatternList"])
        ]
        claimed |= {i for _, i in matched}
        newest_first = sorted(matched, reverse=True)
        expired |= {i for _, i in newest_first[sel["countNumber"] :]}
    return expired


def test_branch_builds_never_expire_a_release_image():
    """3 releases, then 40 branch builds: the releases stay, the 10 oldest builds go. With the
    catch-all rule alone (the policy before keepReleases) the releases would be the first to go."""
    releases = [(n, {f"git-{n:012x}", f"v1.0.{n}"}) for n in range(3)]
    builds = [(n, {f"src-{n:x}", f"git-{n:012x}"}) for n in range(3, 43)]
    images = releases + builds
    policy = image.render_lifecycle_policy(ImageConfig(keep_tagged=30, keep_releases=5))
    expired = expired_by(policy, images)
    assert expired == set(range(3, 13))
    catch_all_only = {"rules": [r for r in policy["rules"] if r["rulePriority"] != 2]}
    assert {0, 1, 2} <= expired_by(catch_all_only, images)
    # Past keepReleases the oldest releases go too, and only they.
    many = [(n, {f"v2.0.{n}"}) for n in range(8)]
    assert expired_by(policy, many) == {0, 1, 2}


def test_build_policy_is_scoped_to_this_repository_bucket_log_group_and_key():
    doc = image.render_build_policy(
        repository_arn="arn:repo",
        bucket_arn="arn:bucket",
        log_group_arn="arn:logs",
        key_arn="arn:key",
    )
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    # Only the registry login is unscoped, as ECR requires.
    assert [s["Sid"] for s in doc["Statement"] if s["Resource"] == "*"] == ["EcrLogin"]
    assert by_sid["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
    assert by_sid["PushThisRepository"]["Resource"] == "arn:repo"
    assert "ecr:PutImage" in by_sid["PushThisRepository"]["Action"]
    assert by_sid["ReadThisBucket"]["Resource"] == "arn:bucket/*"
    assert not any(
        a.startswith("s3:Put")
        for s in doc["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert by_sid["WriteThisLogGroup"]["Resource"] == ["arn:logs", "arn:logs:*"]


def test_bucket_policy_denies_plain_http():
    (stmt,) = image_policies.render_bucket_policy("arn:aws:s3:::b")["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_buildspec_tests_the_image_before_pushing_it():
    spec = yaml.safe_load((ROOT / image.BUILDSPEC).read_text())
    # Buildspec commands are strings: an unquoted `echo "a: b"` would load as a mapping.
    commands = [c for phase in spec["phases"].values() for c in phase["commands"]]
    assert all(isinstance(c, str) for c in commands), [
        c for c in commands if not isinstance(c, str)
    ]
    pre = " ".join(spec["phases"]["pre_build"]["commands"])
    build = " ".join(spec["phases"]["build"]["commands"])
    assert "imagebuild.preflight" in pre and "docker login" in pre
    assert spec["phases"]["build"]["on-failure"] == "ABORT"
    order = [
        build.index(s)
        for s in ("docker build", 'trainer.selftest --level "${TEST_LEVEL', "docker push")
    ]
    assert order == sorted(order)
    assert "--cache-from" in build


_AWS_CLI_CALL = re.compile(r"\baws ecr ([a-z-]+)")
# The CLI's commands that are not named after their API action.
_CLI_ACTION = {"get-login-password": "GetAuthorizationToken"}


def test_build_role_allows_every_ecr_call_the_buildspec_makes():
    text = (ROOT / image.BUILDSPEC).read_text()
    calls = set(_AWS_CLI_CALL.findall(text))
    assert {"put-image", "batch-get-image", "describe-images"} <= calls
    actions = {"ecr:" + _CLI_ACTION.get(c, "".join(w.title() for w in c.split("-"))) for c in calls}
    doc = image.render_build_policy(
        repository_arn="r", bucket_arn="b", log_group_arn="l", key_arn="k"
    )
    allowed = {
        a
        for st in doc["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert actions <= allowed, actions - allowed


def test_release_tag_filter_and_buildspec_share_one_expression():
    """The webhook builds pushed vX.Y.Z[-pre] tags, and the buildspec tags exactly those."""
    assert image_policies.RELEASE_TAG in (ROOT / image.BUILDSPEC).read_text()
    ref = re.compile(f"^refs/tags/{image_policies.RELEASE_TAG}$")
    assert ref.match("refs/tags/v1.2.3") and ref.match("refs/tags/v10.0.1-rc.1")
    for other in ("refs/tags/v1.2", "refs/tags/1.2.3", "refs/heads/v1.2.3", "refs/tags/v1.2.3+b"):
        assert not ref.match(other), other


# --------------------------------------------------------------------- the plan of the stacks


def test_repository_is_immutable_scanned_and_kms_encrypted():
    result = plan()
    repo = one(result, "aws:ecr/repository:Repository")
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    key = result.plan.one("aws:kms/key:Key", "trainstack-image-key")
    assert unwrap_secrets(key.inputs)["enableKeyRotation"] is True
    assert repo["encryptionConfigurations"][0]["kmsKey"] == key.state["arn"]
    lifecycle = json.loads(one(result, "aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])
    assert lifecycle["rules"][0]["selection"]["tagStatus"] == "untagged"


def test_source_bucket_is_encrypted_versioned_private_and_tls_only():
    result = plan()

    def one(_result, type_: str) -> dict:
        return unwrap_secrets(result.plan.one(type_, "trainstack-image-sources").inputs)

    sse = one(
        result,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    versioning = one(result, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    block = one(result, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    policy = json.loads(one(result, "aws:s3/bucketPolicy:BucketPolicy")["policy"])
    assert policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_codebuild_project_builds_privileged_at_the_configured_size_with_logs_retained():
    result = plan(
        **{
            "trainstack:image__computeType": "BUILD_GENERAL1_XLARGE",
            "trainstack:image__logRetentionDays": 60,
        }
    )
    project = one(result, "aws:codebuild/project:Project")
    env = project["environment"]
    assert env["privilegedMode"] is True and env["computeType"] == "BUILD_GENERAL1_XLARGE"
    assert project["source"]["buildspec"] == "trainer/buildspec.yml"
    assert project["cache"]["modes"] == ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]
    group = unwrap_secrets(
        result.plan.one("aws:cloudwatch/logGroup:LogGroup", "trainstack-image-logs").inputs
    )
    assert group["retentionInDays"] == 60
    assert project["logsConfig"]["cloudwatchLogs"]["groupName"] == group["name"]
    repo = result.plan.one("aws:ecr/repository:Repository")
    assert {
        "name": "REPOSITORY_URI",
        "value": repo.state["repositoryUrl"],
        "type": "PLAINTEXT",
    } in env["environmentVariables"]
    # No webhook or schedule unless configured.
    assert not result.plan.of_type("aws:codebuild/webhook:Webhook")
    assert not result.plan.of_type("aws:cloudwatch/eventTarget:EventTarget") or all(
        "codebuild" not in str(t.inputs.get("arn"))
        for t in result.plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
    )


def test_github_webhook_and_nightly_build_from_config():
    result = plan(
        **{
            "trainstack:image__github": {"owner": "acme", "repo": "ml", "branch": "train"},
            "trainstack:image__nightlySchedule": "cron(0 3 * * ? *)",
        }
    )
    project = one(result, "aws:codebuild/project:Project")
    assert project["source"]["type"] == "GITHUB"
    assert project["source"]["location"] == "https://github.com/acme/ml.git"
    hook = one(result, "aws:codebuild/webhook:Webhook")
    assert {"type": "HEAD_REF", "pattern": "^refs/heads/train$"} in hook["filterGroups"][0][
        "filters"
    ]
    rules = {
        r.name: unwrap_secrets(r.inputs)
        for r in result.plan.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    nightly = next(r for n, r in rules.items() if n.endswith("-nightly"))
    assert nightly["scheduleExpression"] == "cron(0 3 * * ? *)"


def test_github_webhook_also_builds_pushed_release_tags():
    result = plan(**{"trainstack:image__github": {"owner": "acme", "repo": "ml"}})
    groups = one(result, "aws:codebuild/webhook:Webhook")["filterGroups"]

    def builds(ref: str) -> bool:
        # A group passes when all its filters pass; any passing group starts a build.
        return any(
            all(
                f["pattern"] == "PUSH" if f["type"] == "EVENT" else re.match(f["pattern"], ref)
                for f in g["filters"]
            )
            for g in groups
        )

    assert builds("refs/heads/main") and builds("refs/tags/v1.2.3")
    assert builds("refs/tags/v1.2.3-rc.1")
    assert not builds("refs/heads/feature") and not builds("refs/tags/latest")


def test_codebuild_project_carries_the_selftest_level():
    def level(result) -> str:
        env = one(result, "aws:codebuild/project:Project")["environment"]["environmentVariables"]
        (var,) = [v for v in env if v["name"] == "TEST_LEVEL"]
        assert var["type"] == "PLAINTEXT"
        return var["value"]

    default, full = plan(), plan(**{"trainstack:image__testLevel": "full"})
    assert level(default) == "standard" and level(full) == "full"
    # The level is not part of the source hash: a new level alone rebuilds no image.
    (a,) = default.plan.of_type("pulumi-python:dynamic:Resource")
    (b,) = full.plan.of_type("pulumi-python:dynamic:Resource")
    assert a.inputs["source_hash"] == b.inputs["source_hash"]


def test_image_auto_fix_reaches_the_buildspec_as_auto_fix():
    """image.autoFix becomes the project's AUTO_FIX, which the buildspec turns into `--fix` on the
    preflight (tests/imagebuild/test_preflight_fix.py runs those commands)."""

    def auto_fix(result) -> str:
        env = one(result, "aws:codebuild/project:Project")["environment"]["environmentVariables"]
        (var,) = [v for v in env if v["name"] == "AUTO_FIX"]
        return var["value"]

    default, fixing = plan(), plan(**{"trainstack:image__autoFix": "true"})
    assert auto_fix(default) == "false" and auto_fix(fixing) == "true"
    spec = yaml.safe_load((ROOT / image.BUILDSPEC).read_text())
    pre = spec["phases"]["pre_build"]["commands"]
    assert any('"${AUTO_FIX:-false}" = true' in c and "--fix" in c for c in pre)
    assert any("imagebuild.preflight" in c and "$PREFLIGHT_FIX" in c for c in pre)


def test_an_unknown_test_level_is_a_config_error_naming_the_levels():
    from components.config import ConfigError
    from trainer.selftest import LEVELS

    with pytest.raises(ConfigError) as err:
        plan(**{"trainstack:image__testLevel": "thorough"})
    (issue,) = [i for i in err.value.issues if "testLevel" in i]
    assert issue.startswith("trainstack:image.testLevel = 'thorough'")
    assert all(f"'{level}'" in issue for level in LEVELS)


def test_nightly_build_needs_a_repository_source():
    from components.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"image\.nightlySchedule: needs trainstack:image\.github"
    ):
        plan(**{"trainstack:image__nightlySchedule": "rate(1 day)"})


def test_jobs_run_the_image_this_stack_builds_by_digest():
    result = plan()
    (build,) = result.plan.of_type("pulumi-python:dynamic:Resource")
    built = build.state["image"]
    assert DIGEST_REF.match(built), built
    assert result.plan.outputs["trainerImage"] == built
    jobs = [m for m in result.manifests if m["kind"] == "PyTorchJob"]
    assert [j["metadata"]["name"] for j in jobs] == ["llama-1b"]
    for replica in jobs[0]["spec"]["pytorchReplicaSpecs"].values():
        assert replica["template"]["spec"]["containers"][0]["image"] == built
    # The job waits for the operators and the image, and the build for its project.
    job = next(r for r in result.plan.resources if r.name == "llama-1b" and r.custom)
    assert build.urn in job.dependencies or any(
        build.urn in r.dependencies for r in result.plan.resources if r.urn == job.parent
    )


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_declare_their_jobs_and_volumes(stack):
    result = plan(stack)
    assert result.schema_errors == {}
    kinds = [m["kind"] for m in result.manifests]
    jobs = result.config.training_jobs.values()
    for framework, kind in (("pytorch", "PyTorchJob"), ("ray", "RayJob")):
        assert kinds.count(kind) == sum(j.framework == framework for j in jobs)
    claims = [m for m in result.manifests if m["kind"] == "PersistentVolumeClaim"]
    in_jobs_ns = [c for c in claims if c["metadata"]["namespace"] == result.config.jobs_namespace]
    assert len(in_jobs_ns) == len(result.config.volumes)
    assert "Namespace" in kinds
    text = plan_report.summary(result)
    assert "Trainer image pipeline:" in text and "Training jobs in namespace training:" in text
    for name in result.config.training_jobs:
        assert name in text


def test_removing_a_job_removes_it_and_changing_nodes_resizes_it():
    assert not [
        m for m in plan(**{"trainstack:trainingJobs": {}}).manifests if m["kind"] == "PyTorchJob"
    ]
    resized = plan(**{"trainstack:trainingJobs__llama-1b__nodes": 2})
    (job,) = [m for m in resized.manifests if m["kind"] == "PyTorchJob"]
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    # A new size replaces the job: the operator cannot resize a running static job.
    declared = next(r for r in resized.plan.resources if r.name == "llama-1b" and r.custom)
    # ... as does a new queue or hold gate, which Kueue refuses on a live job.
    assert declared.options["replaceOnChanges"] == ["spec", *queueing.REPLACE_ON]
    assert declared.options["deleteBeforeReplace"] is True


# ------------------------------------------------------------------------- secrets stay secret


def _project_with_secret(tmp_path: Path) -> Path:
    """A copy of the project's stack files where the dev stack also holds the two secrets."""

    def edit(conf: dict) -> None:
        conf["trainstack:trainingJobs"]["llama-1b"]["hfToken"] = True
        conf["trainstack:devPod"] = {"enabled": True, "nodePool": "small"}
        conf["trainstack:wandbApiKey"] = {"secure": "v1:DDDD"}

    return project_with_secrets(tmp_path, "dev", "dev", edit)


def test_secrets_never_appear_unwrapped_in_inputs_or_manifests(tmp_path):
    result = offline_plan.run(_project_with_secret(tmp_path), "dev", out_root=tmp_path / "out")
    assert result.schema_errors == {}
    values = [f"offline-secret-{k}" for k in ("hfToken", "devPodSshKeys", "wandbApiKey")]
    secrets = {r.name: r for r in result.plan.resources if r.type == "kubernetes:core/v1:Secret"}
    assert len(secrets) == 3
    for r in secrets.values():
        assert contains_secrets(r.inputs)
    # With every secret wrapper masked, no value is left anywhere: no input holds it
    # unwrapped (in a job's env, a pod spec, a label, a provider's config ...).
    for r in result.plan.resources:
        masked = json.dumps(mask_secrets(r.inputs), default=str)
        assert not [v for v in values if v in masked], r.name
    assert not [v for v in values if v in json.dumps(result.manifests)]
    # The job refers to the Secrets; it never carries their values.
    job = next(m for m in result.manifests if m["kind"] == "PyTorchJob")
    env = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"] for e in env if "valueFrom" in e}
    assert refs == {
        "HF_TOKEN": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
        "WANDB_API_KEY": {"secretKeyRef": {"name": "wandb-api-key", "key": "apiKey"}},
    }
    # W&B on: the runs go to a project named after the cluster, one run per job.
    plain = {e["name"]: e["value"] for e in env if e["name"].startswith("WANDB_") and "value" in e}
    cluster = result.config.cluster.name
    assert plain == {
        "WANDB_PROJECT": cluster,
        "WANDB_RUN_GROUP": "llama-1b",
        "WANDB_NAME": "llama-1b",
    }
    written = "".join(p.read_text() for p in (tmp_path / "out" / "dev").rglob("*") if p.is_file())
    assert not [v for v in values if v in written]
    assert "[secret]" in written
