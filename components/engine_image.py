"""EngineImage: the vLLM server image, pinned by digest and pulled through ECR.

Nodes never pull the engine from Docker Hub. An ECR pull-through cache rule (prefix
aws_names.engine_cache_prefix) maps `<registry>/<prefix>/vllm/vllm-openai` to Docker Hub's
`vllm/vllm-openai`: the first pull of the digest imports it into the account's registry, every
later pull is served from ECR in the region. Why a cache rule and not a copy in the image
pipeline: the pin is a digest, so what the cache imports is the exact upstream manifest (a copy
made by `docker pull`/`push` would re-push one platform's manifest under a new digest), and the
stack adds no CodeBuild run or second build provider for an image it does not build.

What the rule needs (AWS ECR user guide, "Sync an upstream registry", and botocore's ecr model,
CreatePullThroughCacheRule): Docker Hub is one of the upstreams that require authentication, with
a Secrets Manager secret whose name starts `ecr-pullthroughcache/` and holds `username` and
`accessToken` ("Storing your upstream repository credentials"); ECR Public, Quay and
registry.k8s.io would not, but vLLM publishes its release images on Docker Hub. So the rule and
its secret exist only once `trainstack:dockerHubUser` and the secret `trainstack:dockerHubToken`
are set (config/serving.py refuses a running server without them; a stopped one pulls nothing).

The repository is created by the stack, not by ECR on the first pull: so it is scanned on push,
KMS-encrypted and its tags immutable like the trainer's (the policy pack's ECR rules), and the
nodes need no ecr:CreateRepository. Its repository policy grants the node roles the one extra
action a pull through the cache takes, ecr:BatchImportUpstreamImage (AWS ECR user guide, "IAM
permissions required to sync an upstream registry": grantable by a repository policy). The pull
is by digest only, so the cache never has a tag to move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from . import aws_names
from .config import PROJECT

# vLLM's OpenAI-compatible server image on Docker Hub, at release v0.11.0. The digest is the one
# several independent public pins of `vllm/vllm-openai:v0.11.0@sha256:014a95f2...` give (found by
# code search; Docker Hub itself was not reachable from here): `docker buildx imagetools inspect
# vllm/vllm-openai:v0.11.0` shows it. A digest that did not exist upstream would fail the first
# pull, never run something else. Every flag and variable serving.py passes is checked against
# the vLLM source of this release (components/serving.py, ENGINE_FACTS).
VLLM_VERSION = "0.11.0"
VLLM_TAG = f"v{VLLM_VERSION}"
VLLM_DIGEST = "sha256:014a95f21c9edf6abe0aea6b07353f96baa4ec291c427bb1176dc7c93a85845c"
UPSTREAM_REPOSITORY = "vllm/vllm-openai"
# CreatePullThroughCacheRule upstreamRegistryUrl for Docker Hub (botocore ecr model docs).
DOCKER_HUB_URL = "registry-1.docker.io"
PULL_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def image_ref(repository_url: str) -> str:
    """The image nodes pull: the cache repository, by the pinned digest."""
    return f"{repository_url}@{VLLM_DIGEST}"


def render_repository_policy(node_role_arns: list[str]) -> dict[str, Any]:
    """The cache repository's policy: the nodes may import the upstream image and pull it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NodesPullThroughCache",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(node_role_arns)},
                "Action": list(PULL_ACTIONS),
            }
        ],
    }


# Cached images the repository keeps: the pinned digest and the ones before it. An older one
# expired by the lifecycle policy is imported again from Docker Hub on its next pull.
KEEP_CACHED = 10


def render_lifecycle_policy() -> dict[str, Any]:
    """Keep the newest KEEP_CACHED images, tagged or not (the cache pulls by digest, so its
    images are untagged): an unpinned engine does not stay pullable, nor stored, forever."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the newest {KEEP_CACHED} cached images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_CACHED,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def render_credential(user: str, token: str) -> str:
    """The secret's value in the form ECR reads for Docker Hub."""
    return json.dumps({"username": user, "accessToken": token})


@dataclass
class EngineImageArgs:
    cluster: str  # the configured cluster name (names derive from it)
    node_role_arns: list[pulumi.Input[str]]
    docker_hub_user: str | None = None
    docker_hub_token: pulumi.Output[str] | None = None  # a secret Output
    tags: dict[str, str] = field(default_factory=dict)


class EngineImage(pulumi.ComponentResource):
    image: pulumi.Output[str]  # <cache repository url>@sha256:<pinned digest>
    cache_rule: aws.ecr.PullThroughCacheRule | None  # None until the credential is set

    def __init__(
        self, name: str, args: EngineImageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(f"{PROJECT}:serving:EngineImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repo = aws.ecr.Repository(
            f"{name}-repo",
            name=aws_names.engine_repository(args.cluster, UPSTREAM_REPOSITORY),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            # ECR's AWS managed key (no kmsKey): the image is public, a key of its own would
            # only cost $1 a month.
            encryption_configurations=[{"encryption_type": "KMS"}],
            force_delete=True,
            tags=args.tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repo",
            repository=repo.name,
            policy=json.dumps(render_lifecycle_policy()),
            opts=child,
        )
        aws.ecr.RepositoryPolicy(
            f"{name}-repo",
            repository=repo.name,
            policy=pulumi.Output.all(*args.node_role_arns).apply(
                lambda arns: json.dumps(render_repository_policy(list(arns)))
            ),
            opts=child,
        )
        self.cache_rule = None
        if args.docker_hub_user and args.docker_hub_token is not None:
            self.cache_rule = self._cache_rule(name, args, child)
        self.image = repo.repository_url.apply(image_ref)
        self.register_outputs({"image": self.image})

    def _cache_rule(
        self, name: str, args: EngineImageArgs, child: pulumi.ResourceOptions
    ) -> aws.ecr.PullThroughCacheRule:
        user = args.docker_hub_user or ""
        secret = aws.secretsmanager.Secret(
            f"{name}-docker-hub",
            name=aws_names.docker_hub_secret(args.cluster),
            description=f"{args.cluster}: Docker Hub token ECR pulls the vLLM image with",
            # Deleted at once on destroy, so the same name can be created again.
            recovery_window_in_days=0,
            tags=args.tags,
            opts=child,
        )
        assert args.docker_hub_token is not None
        version = aws.secretsmanager.SecretVersion(
            f"{name}-docker-hub",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                args.docker_hub_token.apply(lambda token: render_credential(user, token))
            ),
            opts=child,
        )
        return aws.ecr.PullThroughCacheRule(
            f"{name}-cache",
            ecr_repository_prefix=aws_names.engine_cache_prefix(args.cluster),
            upstream_registry_url=DOCKER_HUB_URL,
            credential_arn=secret.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[version]),
        )
