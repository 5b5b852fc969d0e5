"""Offline plan: run the real Pulumi program under the mock engine and write what it would create.

Output, under `build/plan/<stack>/`:
- `resources.json`: every resource (type, name, parent, provider, inputs with secrets masked);
- `manifests/`: every Kubernetes object the stack writes itself, as YAML, validated against the
  Kubernetes OpenAPI schemas and the upstream CRDs;
- `helm-values/`: the values each Helm release is installed with.
"""

from __future__ import annotations

import json
import runpy
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import aws_rules
import policies  # the CrossGuard pack's rules, run over the plan offline
from components import catalog, dev_pod
from components import config as platform_config
from components.config import PlatformConfig
from components.config_base import key

from .. import cost
from . import crds, schemas
from .harness import (
    SECRET_MASK,
    Captured,
    OfflinePlan,
    is_secret,
    mask_secrets,
    run_program,
)
from .stack_config import load_stack_config

# What a plan under the mock engine cannot know; printed with every plan so nobody mistakes it
# for a `pulumi preview`.
BLIND_SPOTS = (
    "whether your AWS account has quota and capacity for these GPU types in these zones",
    "whether the IAM principal running `pulumi up` may create these resources",
    "what the pulumi_eks and Helm/kustomize components expand into (shown here as one resource "
    "each; `pulumi preview` lists their children)",
    "whether the pinned chart, operator and AMI versions still exist upstream",
    "diffs against a deployed stack (offline there is no state: everything shows as a create)",
    "resource IDs, ARNs and endpoints (faked here)",
    "whether the trainer image builds in CodeBuild (the digest shown is a placeholder)",
    "whether an FSx CSI driver or a StorageClass you named for a volume exists in the cluster",
)


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
    # Jobs may run only the image of this stack's own repository.
    own = [r.state.get("repositoryUrl") for r in plan.of_type("aws:ecr/repository:Repository")]
    violations = policies.check_plan(
        plan.resources, {"job-images-from-ecr": {"allowedRepositories": [u for u in own if u]}}
    )
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
            "parent": r.parent,
            "provider": r.provider,
            "custom": r.custom,
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
        name = f"{m['kind'].lower()}-{m['metadata']['name']}.yaml"
        (out / "manifests" / name).write_text(yaml.safe_dump(m, sort_keys=False))
    for release, values in result.helm_values.items():
        (out / "helm-values" / f"{release}.yaml").write_text(
            yaml.safe_dump(values, sort_keys=False)
        )
    return out


def component_counts(plan: OfflinePlan) -> Counter[str]:
    """Resources per top-level component under the Platform root."""
    by_urn = {r.urn: r for r in plan.resources}
    counts: Counter[str] = Counter()
    for r in plan.resources:
        node = r
        # Climb to the child of the Platform component.
        while node.parent in by_urn and by_urn[node.parent].type != "trainstack:platform:Platform":
            node = by_urn[node.parent]
        if node is not r or r.parent in by_urn:
            counts[f"{node.type.split(':')[-1]} ({node.name})"] += 1
    return counts


def _image_lines(result: PlanResult) -> list[str]:
    if not result.config.image.enabled:
        return ["Trainer image: not built by this stack (image.enabled: false)", ""]
    outputs = result.plan.outputs
    project = outputs.get("imageBuildProject")
    return [
        "Trainer image pipeline:",
        f"  CodeBuild project {project} builds trainer/Dockerfile, runs the selftest in the "
        "image, pushes to ECR",
        f"  image on `up`: {outputs.get('trainerImage')}",
        "  (rebuilt only when the trainer source hash changes)",
        "",
    ]


def _job_lines(cfg: PlatformConfig) -> list[str]:
    if not cfg.training_jobs:
        return ["Training jobs: none declared (trainstack:trainingJobs)", ""]
    lines = [
        f"Training jobs in namespace {cfg.jobs_namespace}:",
        f"  {'name':<16} {'kind':<10} {'pool':<12} {'nodes':>6} {'GPUs/node':>9} "
        f"{'preset':<11} {'volume':<12} {'EFA':<4} on-up",
    ]
    pools = cfg.pools()
    gpus = {True: 0, False: 0}  # by suspended: what the jobs hold at most
    for name, j in cfg.training_jobs.items():
        low, high = j.node_range
        nodes = str(high) if low == high else f"{low}-{high}"
        kind = "RayJob" if j.framework == "ray" else "PyTorchJob"
        gpus[j.suspend] += high * j.gpus_per_node
        lines.append(
            f"  {name:<16} {kind:<10} {j.node_pool:<12} {nodes:>6} "
            f"{j.gpus_per_node:>9} {j.preset:<11} {j.checkpoint_volume or '-':<12} "
            # The renderer's own decision: a job without `efa` inherits its pool's.
            f"{'yes' if j.uses_efa(pools[j.node_pool]) else 'no':<4} "
            f"{'suspended' if j.suspend else 'runs'}"
        )
    for name, j in cfg.training_jobs.items():
        if j.suspend:
            lines.append(
                f"  {name}: suspended: set {key('trainingJobs', name, 'suspend')}: "
                "false to launch (then `pulumi up`)"
            )
    lines.append(
        f"  Job GPUs on `pulumi up`: {gpus[False]} running, {gpus[True]} waiting in "
        "suspended jobs (at each job's most nodes)"
    )
    if cfg.dev_pod.enabled:
        lines.append(
            f"  dev pod on {cfg.dev_pod.node_pool}: kubectl port-forward -n "
            f"{cfg.jobs_namespace} pod/{dev_pod.NAME} {dev_pod.JUPYTER_PORT} "
            f"{dev_pod.SSH_PORT}"
        )
    return lines + [""]


def _cost_lines(result: PlanResult) -> list[str]:
    """What the stack costs idle and flat out: the figure that keeps a cluster from running
    overnight unnoticed. A price the table lacks must not stop the plan."""
    try:
        report = cost.estimate(result.config, stack=result.stack)
    except cost.PriceError as e:
        return [f"Cost: not estimated ({e})"]
    idle, top = report.idle_hourly, report.ceiling_hourly
    return [
        f"Cost at on-demand list prices of {report.prices.date}: ${idle:.2f}/h idle "
        f"(${report.monthly(idle):,.0f}/month), ${top:,.2f}/h with every pool at its "
        f"ceiling (`trainstack cost --stack {result.stack}` itemises it)"
    ]


def _policy_lines(result: PlanResult) -> list[str]:
    found = result.policy_violations
    if not found:
        return ["Policies: every rule of policies/ passes.", ""]
    mandatory = len(result.mandatory_violations)
    lines = [
        f"Policies: {len(found)} violation(s), {mandatory} mandatory "
        f"(a mandatory one blocks `pulumi up --policy-pack policies`):"
    ]
    for v in sorted(found, key=lambda v: (not v.mandatory, v.rule, v.resource)):
        lines.append(f"  [{v.level}] {v.rule} on {v.resource} ({v.type}): {v.message}")
    return lines + [""]


def _aws_lines(result: PlanResult) -> list[str]:
    found = result.aws_violations
    if not found:
        return ["AWS inputs: every name, field and IAM policy follows AWS's rules.", ""]
    lines = [f"AWS inputs: {len(found)} violation(s) of AWS's rules (`pulumi up` would fail):"]
    lines += [f"  {v}" for v in found]
    return lines + [""]


def summary(result: PlanResult) -> str:
    cfg, plan = result.config, result.plan
    lines = [
        f"Offline plan of stack '{result.stack}': cluster {cfg.cluster.name} "
        f"(Kubernetes {cfg.cluster.kubernetes_version}) in {cfg.region} "
        f"[{', '.join(cfg.zones())}]",
        f"{len(plan.resources)} resources would be created.",
        "",
        "Resources by component:",
    ]
    for comp, n in sorted(component_counts(plan).items()):
        lines.append(f"  {comp:<40} {n:>4}")
    lines += [
        "",
        "Managed node groups:",
        f"  {'name':<14} {'instance types':<30} {'capacity':<10} {'min/desired/max':<16} "
        f"{'GPUs/node':>9} {'max GPUs':>8}  EFA",
    ]
    for name, g in cfg.node_groups.items():
        lines.append(
            f"  {name:<14} {', '.join(g.instance_types):<30} {g.capacity_type:<10} "
            f"{f'{g.min_size}/{g.desired}/{g.max_size}':<16} {g.gpus_per_node:>9} "
            f"{g.gpus_per_node * g.max_size:>8}  {'yes' if g.efa else 'no'}"
        )
    if cfg.node_pools:
        lines += [
            "",
            "Karpenter NodePools:",
            f"  {'name':<14} {'instances':<40} {'capacity':<18} {'max nodes':>9} "
            f"{'max GPUs':>8}  EFA",
        ]
        for name, p in cfg.node_pools.items():
            what = ", ".join(p.instance_types) or "families " + ", ".join(p.instance_families)
            lines.append(
                f"  {name:<14} {what:<40} {', '.join(p.capacity_types):<18} "
                f"{p.max_nodes if p.max_nodes is not None else '-':>9} "
                f"{p.max_gpus:>8}  {'yes' if p.efa else 'no'}"
            )
    else:
        lines += [
            "",
            "Karpenter: disabled" if not cfg.karpenter.enabled else "Karpenter: no NodePools",
        ]
    lines += ["", f"Maximum GPUs this stack can run: {cfg.gpu_ceiling()}"]
    lines += _cost_lines(result) + [""]
    lines += _image_lines(result) + _job_lines(cfg)
    n, unchecked = len(result.manifests), result.unchecked
    # The unchecked kinds are named whether or not the checked ones have errors.
    not_checked = (
        f"; {len(unchecked)} "
        f"{result.crds.notice(list(dict.fromkeys(m['kind'] for m in unchecked)))}"
        if unchecked
        else ""
    )
    if result.schema_errors:
        lines.append(f"Kubernetes objects: {n}, {len(result.schema_errors)} INVALID{not_checked}:")
        for obj, errs in result.schema_errors.items():
            lines += [f"  {obj}: {e}" for e in errs]
    elif unchecked:
        lines.append(
            f"Kubernetes objects: {n}, {n - len(unchecked)} valid against their "
            f"schemas{not_checked}"
        )
    else:
        lines.append(
            f"Kubernetes objects: {n}, all valid against the Kubernetes schemas and upstream CRDs."
        )
    lines += _aws_lines(result)
    lines += _policy_lines(result)
    if result.out_dir is not None:
        lines.append(f"Written to {result.out_dir}/ (resources.json, manifests/, helm-values/)")
    lines += ["", "What an offline plan cannot know:"] + [f"  - {b}" for b in BLIND_SPOTS]
    return "\n".join(lines)
