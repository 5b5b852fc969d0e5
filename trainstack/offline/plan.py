"""Offline plan: run the real Pulumi program under the mock engine and write what it would create.

Output, under `build/plan/<stack>/`:
- `resources.json`: every resource (type, name, URN, parent, provider, the URNs it depends on,
  inputs with secrets masked);
- `manifests/`: every Kubernetes object the stack writes itself, as YAML, validated against the
  Kubernetes OpenAPI schemas and the upstream CRDs;
- `helm-values/`: the values each Helm release is installed with.

The text printed with the plan is `plan_report.summary`.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import aws_rules
import policies  # the CrossGuard pack's rules, run over the plan offline
from components import catalog
from components import config as platform_config
from components.config import PlatformConfig

from . import crds, schemas
from .captured import Captured, OfflinePlan
from .engine import run_program
from .secrets import SECRET_MASK, is_secret, mask_secrets
from .stack_config import load_stack_config


@dataclass
class PlanResult:
    stack: str
    config: PlatformConfig
    plan: OfflinePlan
    manifests: list[dict[str, Any]]
    helm_values: dict[str, Any]
    schema_errors: dict[str, list[str]] = field(default_factory=dict)
    out_dir: Path | None = None
    # policies.Violation per broken rule (the policy pack's rules, run over this plan).
    policy_violations: list[Any] = field(default_factory=list)
    # aws_rules.Violation per AWS input rule broken (API field rules, documented names, IAM).
    aws_violations: list[Any] = field(default_factory=list)
    # The pinned upstream CRDs this machine has; objects of a missing one are not checked.
    crds: crds.CrdSet | None = None
    # The pack config the rules ran with (the stack's image allow-list).
    policy_config: dict[str, Any] = field(default_factory=dict)

    @property
    def unchecked(self) -> list[dict[str, Any]]:
        """Manifests of a kind whose pinned CRD this machine lacks, so not validated."""
        if self.crds is None:
            return []
        return [m for m in self.manifests if self.crds.is_missing(*_group_kind(m))]

    @property
    def mandatory_violations(self) -> list[Any]:
        return [v for v in self.policy_violations if v.mandatory]


def is_kubernetes_object(r: Captured) -> bool:
    """A whole Kubernetes object the stack declares itself (not a chart, kustomization or
    provider, nor a `*Patch`: a server-side-apply patch of an object someone else created is
    partial by design and would fail the object's schema)."""
    return (
        r.type.startswith("kubernetes:")
        and r.custom
        and not r.type.startswith(("kubernetes:helm.sh/", "pulumi:providers:"))
        and not r.type.endswith("Patch")
    )


def _ints(value: Any) -> Any:
    """The mock engine hands numbers back as floats (8.0): write whole numbers as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _mask_leaves(value: Any, secret: bool = False) -> Any:
    """Secrets masked value by value: a secret mapping keeps its keys, so the object still has
    its shape (a Secret's stringData stays a mapping) and validates."""
    if is_secret(value):
        return _mask_leaves(value["value"], True)
    if isinstance(value, dict):
        return {k: _mask_leaves(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v, secret) for v in value]
    return SECRET_MASK if secret else value


def manifest_of(r: Captured) -> dict[str, Any]:
    """The object as the stack declares it, secrets masked: a Secret's data validates as the
    string "[secret]" and the plan's manifests never hold a secret value."""
    body = _ints({k: v for k, v in _mask_leaves(r.inputs).items() if not k.startswith("__")})
    body.setdefault("metadata", {"name": r.name})
    first = ("apiVersion", "kind", "metadata")
    return {
        **{k: body[k] for k in first if k in body},
        **{k: v for k, v in body.items() if k not in first},
    }


def with_overrides(config: dict[str, str], overrides: dict[str, Any]) -> dict[str, str]:
    """Apply `pulumi config set --path` style edits: {"trainstack:nodeGroups.g5.maxSize": 8}."""
    out = dict(config)
    for path, value in overrides.items():
        top, *rest = path.split(".")
        if not rest:
            out[top] = value if isinstance(value, str) else json.dumps(value)
            continue
        data = json.loads(out.get(top, "{}"))
        node = data
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(rest[-1], None)
        else:
            node[rest[-1]] = value
        out[top] = json.dumps(data)
    return out


def _group_kind(manifest: dict[str, Any]) -> tuple[str, str]:
    return manifest["apiVersion"].rpartition("/")[0], manifest["kind"]


def allowed_repositories(plan: OfflinePlan, cfg: PlatformConfig) -> list[str]:
    """The pack's job-images-from-ecr allow-list for this stack: its own repository and those
    `image.allowedRepositories` adds for jobs with an image of their own."""
    own = [r.state.get("repositoryUrl") for r in plan.of_type("aws:ecr/repository:Repository")]
    return [u for u in own if u] + list(cfg.image.allowed_repositories)


def pack_config(plan: OfflinePlan, cfg: PlatformConfig) -> dict[str, Any]:
    """The policy pack's config this stack's own settings call for, as `pulumi up
    --policy-pack-config` takes it (the plan writes it to policy-config.json): the image
    allow-list and an existing notifications topic as an allowed EventBridge target. Nothing
    here lowers a rule: an endpoint opened to the world on purpose
    (endpoint.allowPublicFromAnywhere) passes config but stays refused until whoever owns the
    pack's config lowers eks-endpoint-not-public."""
    out: dict[str, Any] = {
        "job-images-from-ecr": {"allowedRepositories": allowed_repositories(plan, cfg)}
    }
    if cfg.notifications.enabled and cfg.notifications.topic_arn:
        out["eventbridge-targets-in-stack"] = {"allowedTargets": [cfg.notifications.topic_arn]}
    return out


def run(
    project_dir: Path,
    stack: str,
    out_root: Path | None = None,
    overrides: dict[str, Any] | None = None,
    fetch_crds: bool = True,
) -> PlanResult:
    """Evaluate the program for `stack`; raises ConfigError / StackFileError on bad config.

    `overrides` edits config keys by path before the run (None deletes a key), as
    `pulumi config set --path` would. Custom resources are validated against the pinned CRDs
    (downloaded on first use when `fetch_crds`); those whose CRD this machine cannot have are
    listed in `result.crds.notice()` instead.
    """
    stack_cfg = load_stack_config(project_dir, stack)
    values = with_overrides(stack_cfg.config, overrides or {})
    # Validate first so a bad stack file fails with the config error, before any resource.
    cfg = platform_config.parse_pulumi_config(values)
    program = project_dir / "__main__.py"
    plan = run_program(
        lambda: runpy.run_path(str(program), run_name="__main__"),
        config=values,
        secret_keys=stack_cfg.secret_keys,
        stack=stack,
        az_names=list(catalog.REGION_ZONES[cfg.region]),
    )
    manifests = [manifest_of(r) for r in plan.resources if is_kubernetes_object(r)]
    helm_values = {
        r.name: mask_secrets(r.inputs.get("values", {}))
        for r in plan.resources
        if r.type == "kubernetes:helm.sh/v3:Release"
    }
    crd_set = crds.ensure(fetch=fetch_crds)
    errors = schemas.validate_all(
        [m for m in manifests if not crd_set.is_missing(*_group_kind(m))],
        str(cfg.cluster.kubernetes_version),
    )
    policy_config = pack_config(plan, cfg)
    violations = policies.check_plan(plan.resources, policy_config)
    result = PlanResult(
        stack,
        cfg,
        plan,
        manifests,
        helm_values,
        errors,
        policy_violations=violations,
        crds=crd_set,
        aws_violations=aws_rules.check(plan.resources),
        policy_config=policy_config,
    )
    if out_root is not None:
        result.out_dir = write(result, out_root / stack)
    return result


def write(result: PlanResult, out: Path) -> Path:
    for sub in ("manifests", "helm-values"):
        folder = out / sub
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "parent": r.parent,
            "provider": r.provider,
            "custom": r.custom,
            # What the engine waits for before creating it: explicit depends_on (a component
            # expanded to its resources, as the SDK sends it) and the resources its inputs
            # come from (the register request's dependencies and propertyDependencies).
            "dependencies": sorted(r.dependencies),
            "inputs": mask_secrets(r.inputs),
        }
        for r in result.plan.resources
    ]
    (out / "resources.json").write_text(
        json.dumps(resources, indent=2, sort_keys=True, default=str)
    )
    (out / "outputs.json").write_text(
        json.dumps(
            {
                k: "[secret]" if k in result.plan.secret_outputs else v
                for k, v in result.plan.outputs.items()
            },
            indent=2,
            sort_keys=True,
            default=str,
        )
    )
    for m in result.manifests:
        # The namespace too: the jobs' and the volume step's namespaces each have a default-deny
        # policy and a claim of the same name.
        where = [m["metadata"]["namespace"]] if m["metadata"].get("namespace") else []
        name = "-".join([m["kind"].lower(), *where, m["metadata"]["name"]]) + ".yaml"
        (out / "manifests" / name).write_text(yaml.safe_dump(m, sort_keys=False))
    for release, values in result.helm_values.items():
        (out / "helm-values" / f"{release}.yaml").write_text(
            yaml.safe_dump(values, sort_keys=False)
        )
    (out / "policy-config.json").write_text(json.dumps(result.policy_config, indent=2) + "\n")
    return out
