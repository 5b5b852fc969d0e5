"""The text `trainstack plan` prints: what the stack creates, its node groups and pools, the GPU
ceiling and cost, the trainer image and jobs, the checks' results, and what an offline plan cannot
know."""

from __future__ import annotations

import shlex
from collections import Counter

from components import dev_pod, engine_image
from components.config import PlatformConfig, TrainingJobConfig, key
from components.job_memory import JobMemory, job_memory
from components.notification_policies import existing_topic_grants
from components.training_job import KINDS
from trainer.memory_model import GIB

from .. import cost
from .captured import OfflinePlan
from .costing import price_plan
from .plan import PlanResult
from .queue_report import queue_lines

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
    "whether a StorageClass or claim you named for a volume exists in the cluster",
)


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


WORKLOAD_WIDTH = 72


def _workload(j: TrainingJobConfig) -> str:
    """A foreign job's command as its pods run it, and where from (config/job_runs.py)."""
    line = j.entrypoint if j.entrypoint is not None else shlex.join(j.command or [])
    if len(line) > WORKLOAD_WIDTH:  # the whole line is in the written manifest
        line = line[: WORKLOAD_WIDTH - 4].rstrip() + " ..."
    what = f"entrypoint `{line}`" if j.entrypoint is not None else f"script `{line}` under torchrun"
    image = j.image or "this stack's image"
    ray = f", Ray {j.ray_version}" if j.ray_version else ""
    return f"{what} in {image}{ray}"


def _job_lines(cfg: PlatformConfig) -> list[str]:
    if not cfg.training_jobs:
        return ["Training jobs: none declared (trainstack:trainingJobs)", ""]
    lines = [
        f"Training jobs in namespace {cfg.jobs_namespace}:",
        f"  {'name':<16} {'kind':<10} {'pool':<12} {'nodes':>6} {'GPUs/node':>9} "
        f"{'preset':<11} {'volume':<12} {'EFA':<4} on-up",
    ]
    pools = cfg.pools()
    # With Kueue a job that is not held is queued: it runs when its queue has the GPUs.
    held, free = ("held", "queued") if cfg.addons.queued else ("suspended", "runs")
    gpus = {True: 0, False: 0}  # by suspended: what the jobs hold at most
    for name, j in cfg.training_jobs.items():
        low, high = j.node_range
        nodes = str(high) if low == high else f"{low}-{high}"
        kind = KINDS[j.framework][1]
        gpus[j.suspend] += high * j.gpus_per_node
        lines.append(
            f"  {name:<16} {kind:<10} {j.node_pool:<12} {nodes:>6} "
            f"{j.gpus_per_node:>9} {j.preset or '-':<11} {j.checkpoint_volume or '-':<12} "
            # The renderer's own decision: a job without `efa` inherits its pool's.
            f"{'yes' if j.uses_efa(pools[j.node_pool]) else 'no':<4} "
            f"{held if j.suspend else free}"
        )
    for name, j in cfg.training_jobs.items():
        if j.foreign:
            lines.append(f"  {name}: runs its own {_workload(j)}")
    lines += _memory_lines(cfg)
    for name, j in cfg.training_jobs.items():
        if j.suspend:
            lines.append(
                f"  {name}: {held}: set {key('trainingJobs', name, 'suspend')}: "
                "false to launch (then `pulumi up`)"
            )
    lines.append(
        f"  Job GPUs on `pulumi up`: {gpus[False]} {free}, {gpus[True]} waiting in "
        f"{held} jobs (at each job's most nodes)"
    )
    if cfg.dev_pod.enabled:
        ns = "" if cfg.jobs_namespace == "training" else f" -n {cfg.jobs_namespace}"
        lines.append(
            f"  dev pod {cfg.jobs_namespace}/{dev_pod.NAME} on {cfg.dev_pod.node_pool}: "
            f"`trainstack devpod connect{ns}` (port-forward of {dev_pod.SSH_PORT} and "
            f"{dev_pod.JUPYTER_PORT}); `trainstack devpod start` after its idle stop"
        )
    return lines + [""]


def _serving_lines(result: PlanResult) -> list[str]:
    """The served models as the jobs are shown: pool, GPUs, parallelism, model and whether
    `pulumi up` runs them; and where their engine image comes from."""
    cfg = result.config
    if not cfg.serving_jobs:
        return []
    lines = [
        f"Served models (vLLM OpenAI-compatible servers) in namespace {cfg.jobs_namespace}:",
        f"  {'name':<16} {'pool':<12} {'replicas':>8} {'GPUs/replica':>12} {'TP':>3} "
        f"{'DP':>3} {'max len':>8}  {'on-up':<8} model",
    ]
    gpus = {True: 0, False: 0}  # by running: what the servers hold
    for name, s in cfg.serving_jobs.items():
        gpus[s.running] += max(s.replicas, 1) * s.gpus
        lines.append(
            f"  {name:<16} {s.node_pool:<12} {s.replicas:>8} {s.gpus:>12} {s.tp:>3} "
            f"{s.data_parallel:>3} {s.max_model_len:>8}  {'serves' if s.running else 'stopped':<8} "
            f"{s.model}"
        )
    for name, s in cfg.serving_jobs.items():
        if not s.running:
            lines.append(
                f"  {name}: stopped: set {key('servingJobs', name, 'replicas')}: 1 to serve "
                "(then `pulumi up`)"
            )
    ns = "" if cfg.jobs_namespace == "training" else f" -n {cfg.jobs_namespace}"
    lines.append(
        f"  Serving GPUs on `pulumi up`: {gpus[True]} running, {gpus[False]} waiting in "
        f"stopped servers (one replica each); query one with "
        f"`trainstack serve connect <name>{ns}`"
    )
    lines += _engine_lines(result)
    return lines + [""]


def _engine_lines(result: PlanResult) -> list[str]:
    cfg = result.config
    own = [n for n, s in cfg.serving_jobs.items() if s.image is not None]
    lines = [f"  {n}: runs its own image {cfg.serving_jobs[n].image}" for n in own]
    if len(own) == len(cfg.serving_jobs):
        return lines
    image = result.plan.outputs.get("engineImage")
    lines.append(
        f"  engine: vllm/vllm-openai:{engine_image.VLLM_TAG}@{engine_image.VLLM_DIGEST}, "
        f"pulled by the nodes as {image}"
    )
    rules = result.plan.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    if rules:
        lines.append(
            "  (an ECR pull-through cache rule imports it from Docker Hub on the first pull)"
        )
    else:
        lines.append(
            "  NOTICE: no pull-through cache rule yet: it needs trainstack:dockerHubUser and "
            "the secret trainstack:dockerHubToken (a Docker Hub access token); stopped "
            "servers pull nothing, a running one could not start without them"
        )
    return lines


def _memory_line(name: str, m: JobMemory) -> str:
    """One job's GPU memory per rank by the trainer's memory model, and whether it fits."""
    whose = "as configured" if m.named_mode else "the model's choice"
    line = (
        f"  {name}: {m.breakdown.total / GIB:.1f} of {m.gpu.gpu_memory_gib} GiB per "
        f"{m.gpu.gpu_model} at {m.ranks} ranks, {m.mode} activation checkpointing ({whose}), "
        f"micro-batch {m.micro_batch} x {m.seq_len} tokens"
    )
    if m.refusal is not None:
        return f"{line}: DOES NOT FIT in any mode ({m.refusal})"
    if not m.fits:
        return (
            f"{line}: DOES NOT FIT; {m.best.mode} would "
            f"({m.best.breakdown.total / GIB:.1f} GiB, micro-batch {m.best.micro_batch})"
        )
    if m.best.mode != m.mode:
        return (
            f"{line}; {m.best.mode} fits too ({m.best.breakdown.total / GIB:.1f} GiB, "
            f"micro-batch {m.best.micro_batch}) and recomputes less"
        )
    return line


def _memory_lines(cfg: PlatformConfig) -> list[str]:
    pools = cfg.pools()
    found = {name: job_memory(j, pools[j.node_pool]) for name, j in cfg.training_jobs.items()}
    found = {name: m for name, m in found.items() if m is not None}
    if not found:
        return []
    return [
        "  GPU memory per rank at each job's fewest ranks, by the trainer's memory model "
        "(docs/trainer.md, Memory model):"
    ] + [_memory_line(name, m) for name, m in found.items()]


def _notification_lines(cfg: PlatformConfig) -> list[str]:
    n = cfg.notifications
    if not n.enabled:
        return []
    what = ", ".join(
        w for w, on in (("image builds", n.image_builds), ("training jobs", n.training_jobs)) if on
    )
    if not n.topic_arn:
        return [f"Notifications ({what}): to the topic the stack creates (KMS-encrypted)", ""]
    lines = [
        f"Notifications ({what}): to the existing topic {n.topic_arn}; the stack creates no "
        "topic or key and cannot change their policies. Its owner must allow:"
    ]
    grants = existing_topic_grants(
        n.topic_arn, n.topic_kms_key_arn, n.image_builds, n.training_jobs
    )
    return lines + [f"  - {g}" for g in grants] + [""]


def _cost_lines(result: PlanResult) -> list[str]:
    """What the stack costs idle and flat out: the figure that keeps a cluster from running
    overnight unnoticed, item by item from this plan's resources, and what stays unpriced. A
    price the table lacks must not stop the plan."""
    try:
        report = price_plan(result)
    except cost.PriceError as e:
        return [f"Cost: not estimated ({e})"]
    idle, top = report.idle_hourly, report.ceiling_hourly
    lines = [
        f"Cost at on-demand list prices of {report.prices.date}: ${idle:.2f}/h idle "
        f"(${report.monthly(idle):,.0f}/month), ${top:,.2f}/h with every pool at its "
        f"ceiling (`trainstack cost --stack {result.stack}` itemises the ceiling and dates "
        "each rate)"
    ]
    lines += cost.idle_lines(report)
    if report.dev_pod is not None:
        lines.append(f"  {report.dev_pod.summary()}")
    lines += [f"  {s.summary()}" for s in report.serving]
    unconfirmed = report.unconfirmed()
    if unconfirmed:
        lines.append(
            f"  Estimates until checked on AWS's own pages: {', '.join(unconfirmed)} "
            "(`trainstack cost` says where each comes from)"
        )
    return lines + [f"  {line}" for line in cost.unpriced_lines(report)]


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
        controls = f" [{', '.join(v.controls)}]" if v.controls else ""
        lines.append(f"  [{v.level}] {v.rule} on {v.resource} ({v.type}): {v.message}{controls}")
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
        facts = g.facts(name)
        lines.append(
            f"  {name:<14} {', '.join(g.instance_types):<30} {g.capacity_type:<10} "
            f"{f'{g.min_size}/{g.desired}/{g.max_size}':<16} {facts.max_gpus_per_node:>9} "
            f"{facts.max_gpus:>8}  {'yes' if facts.efa else 'no'}"
        )
    if cfg.node_pools:
        lines += [
            "",
            "Karpenter NodePools:",
            f"  {'name':<14} {'instances':<40} {'capacity':<18} {'max nodes':>9} "
            f"{'max GPUs':>8}  EFA",
        ]
        for name, p in cfg.node_pools.items():
            facts = p.facts(name)
            what = ", ".join(p.instance_types) or "families " + ", ".join(p.instance_families)
            lines.append(
                f"  {name:<14} {what:<40} {', '.join(p.capacity_types):<18} "
                f"{facts.max_nodes if facts.max_nodes is not None else '-':>9} "
                f"{facts.max_gpus:>8}  {'yes' if facts.efa else 'no'}"
            )
    else:
        lines += [
            "",
            "Karpenter: disabled" if not cfg.karpenter.enabled else "Karpenter: no NodePools",
        ]
    lines += ["", f"Maximum GPUs this stack can run: {cfg.gpu_ceiling()}"]
    lines += _cost_lines(result) + [""]
    lines += _image_lines(result) + _job_lines(cfg) + _serving_lines(result)
    lines += queue_lines(cfg)
    lines += _notification_lines(cfg)
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
        written = "resources.json, manifests/, helm-values/, policy-config.json"
        lines.append(f"Written to {result.out_dir}/ ({written})")
    lines += ["", "What an offline plan cannot know:"] + [f"  - {b}" for b in BLIND_SPOTS]
    return "\n".join(lines)
