"""The offline plan's training-job table says what the rendered jobs do: EFA as the manifest
requests it, and whether a job is queued on `pulumi up` or held."""

from __future__ import annotations

from pathlib import Path

import pytest
import support
from workload_support import stack_plan

from components.config import TrainingJobConfig
from components.training_job import JobTarget, render
from jobwatch import alarms
from jobwatch.progress import HungRule
from trainstack.offline import plan as offline_plan
from trainstack.offline import plan_report

ROOT = Path(__file__).resolve().parents[2]
EFA = "vpc.amazonaws.com/efa"
GATE = "kueue.x-k8s.io/admission-gated-by"


def plan(stack: str, **overrides) -> offline_plan.PlanResult:
    """`__` stands for `.` in key paths; None deletes the key. The session's plans (support.py)."""
    return support.plan(stack, **overrides)


def job_table(lines: list[str]) -> dict[str, dict[str, str]]:
    """The job table's rows by job name, each a mapping of column header to cell."""
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "kind"])
    columns = lines[header].split()
    rows = {}
    for line in lines[header + 1 :]:
        cells = line.split()
        if len(cells) != len(columns):
            break
        rows[cells[0]] = dict(zip(columns, cells))
    return rows


def container_requests(manifest: dict) -> list[dict]:
    specs = manifest["spec"]["pytorchReplicaSpecs"].values()
    return [c["resources"]["requests"] for s in specs for c in s["template"]["spec"]["containers"]]


# The efa stack's llama-8b without its own `efa`: it inherits the pool's (efa: true).
INHERITS = {"trainstack:trainingJobs__llama-8b__efa": None}


def test_job_inheriting_efa_from_its_pool_shows_efa_and_requests_it():
    result = plan("efa", **INHERITS)
    job = result.config.training_jobs["llama-8b"]
    assert job.efa is None and result.config.pools()[job.node_pool].efa
    row = job_table(plan_report.summary(result).splitlines())["llama-8b"]
    assert row["EFA"] == "yes"
    manifest = next(m for m in result.manifests if m["kind"] == "PyTorchJob")
    assert all(r[EFA] >= 1 for r in container_requests(manifest))


def test_job_table_and_manifest_ask_the_same_efa_decision(monkeypatch):
    """Turn the one decision off: the table and the rendered job both follow it."""
    cfg = plan("efa", **INHERITS).config
    job, pool = cfg.training_jobs["llama-8b"], cfg.pools()["efa"]
    target = JobTarget(
        "training", "img@sha256:" + "0" * 64, pool, "checkpoints", cfg.volumes["checkpoints"]
    )
    for decided in (True, False):
        monkeypatch.setattr(TrainingJobConfig, "uses_efa", lambda self, pool, d=decided: d)
        row = job_table(plan_report._job_lines(cfg))["llama-8b"]
        manifest = render("llama-8b", job, target)
        assert row["EFA"] == ("yes" if decided else "no")
        assert all((EFA in r) == decided for r in container_requests(manifest))


# ---------------------------------------------------------------------------------- held jobs


def suspend_of(manifest: dict) -> bool:
    """Where each CRD keeps it: kubeflow.org_pytorchjobs (release-1.9) spec.runPolicy.suspend,
    ray.io_rayjobs (v1.7.0) spec.suspend."""
    spec = manifest["spec"]
    return spec["runPolicy"]["suspend"] if manifest["kind"] == "PyTorchJob" else spec["suspend"]


def jobs_of(result) -> dict[str, dict]:
    return {
        m["metadata"]["name"]: m for m in result.manifests if m["kind"] in ("PyTorchJob", "RayJob")
    }


def held(manifest: dict) -> bool:
    """Kueue's admission gate, which the stack puts on a `suspend: true` job (queueing.py)."""
    return manifest["metadata"]["annotations"].get(GATE) == "trainstack.io/held"


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_idle_at_zero_gpus_their_jobs_declared_held(stack):
    result = plan(stack)
    assert result.schema_errors == {}
    jobs = jobs_of(result)
    assert jobs and all(suspend_of(m) is True and held(m) for m in jobs.values())
    lines = plan_report.summary(result).splitlines()
    table = job_table(lines)
    assert {name: row["on-up"] for name, row in table.items()} == dict.fromkeys(jobs, "held")
    for name in jobs:
        assert (
            f"  {name}: held: set trainstack:trainingJobs.{name}.suspend: false to "
            "launch (then `pulumi up`)"
        ) in lines
    assert any(line.strip().startswith("Job GPUs on `pulumi up`: 0 queued,") for line in lines)


def test_a_job_set_to_launch_is_queued_for_kueue_to_start_and_counts_its_gpus():
    result = plan("dev", **{"trainstack:trainingJobs__llama-1b__suspend": False})
    assert result.schema_errors == {}
    # Not held, and created suspended all the same: Kueue unsuspends it once admitted.
    job_manifest = jobs_of(result)["llama-1b"]
    assert suspend_of(job_manifest) is True and not held(job_manifest)
    lines = plan_report.summary(result).splitlines()
    assert job_table(lines)["llama-1b"]["on-up"] == "queued"
    assert not any("held: set" in line for line in lines)
    job = result.config.training_jobs["llama-1b"]
    running = job.node_range[1] * job.gpus_per_node
    assert (
        f"  Job GPUs on `pulumi up`: {running} queued, 0 waiting in held jobs "
        "(at each job's most nodes)"
    ) in lines


def test_a_jobs_own_hung_factor_is_rendered_where_the_watcher_reads_it():
    # The full stack's llama-8b has hungFactor 30; its RayJob none (the stack's applies).
    jobs = {
        m["metadata"]["name"]: m for m in stack_plan("full").manifests if m["kind"].endswith("Job")
    }
    own = jobs["llama-8b"]["metadata"]["annotations"]
    assert own[alarms.HUNG_FACTOR_ANNOTATION] == "30"
    stack = HungRule(factor=10, floor_s=600)
    assert alarms.hung_rule(jobs["llama-8b"], stack) == HungRule(factor=30, floor_s=600)
    ray = next(m for m in jobs.values() if m["kind"] == "RayJob")
    assert alarms.HUNG_FACTOR_ANNOTATION not in ray["metadata"]["annotations"]
    assert alarms.hung_rule(ray, stack) is stack
