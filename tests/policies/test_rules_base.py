"""What every rule shares (policies/rules/base.py): rules ignore types they do not cover, and
a rule's config replaces its default allow-lists."""

from __future__ import annotations

from policy_cases import CODEBUILD, IMAGE, POD, SG, TAGS, pod

from policies import BY_NAME


def test_rules_ignore_types_they_do_not_cover():
    assert BY_NAME["ecr-immutable-tags"](SG, {"imageTagMutability": "MUTABLE"}) == []


def test_rule_config_overrides_the_default_allow_lists():
    tags = BY_NAME["required-tags"]
    assert tags("aws:kms/key:Key", {"tags": TAGS}, {"requiredTags": ["team"]})
    cb = BY_NAME["codebuild-privileged-only-image-build"]
    props = {"name": "dev-docs", "environment": {"privilegedMode": True}}
    assert cb(CODEBUILD, props, {"privilegedSuffixes": ["-docs"]}) == []
    # Pinned to the stack's repository, another ECR repository is refused.
    ecr = BY_NAME["job-images-from-ecr"]
    own = IMAGE.split("@")[0]
    other = "123456789012.dkr.ecr.us-west-2.amazonaws.com/someone-else@sha256:" + "1" * 64
    assert ecr(POD, pod(), {"allowedRepositories": [own]}) == []
    assert ecr(POD, pod({"image": other}), {"allowedRepositories": [own]})
    assert ecr(POD, pod({"image": other}), {}) == []  # no pin: any ECR repository
