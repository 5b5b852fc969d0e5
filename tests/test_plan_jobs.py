"""The offline plan's training-job table says what the rendered jobs do: EFA as the manifest
requests it, and whether a job starts on `pulumi up` or waits suspended."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from components.training_job import JobTarget, render
from components.workload_config import TrainingJobConfig
from trainstack import plan as offline_plan

ROOT = Path(__file__).resolve().parents[1]
EFA = "vpc.amazonaws.com/efa"


@functools.cache
def _plan(stack: str, overrides: str) -> offline_plan.PlanResult:
    return offline_plan.run(ROOT, stack, overrides=json.loads(overrides))


def plan(stack: str, **overrides) -> offline_plan.PlanResult:
    """`__` stands for `.` in key paths; None deletes the key."""
    return _plan(stack, json.dumps({k.replace("__", "."): v for k, v in overrides.items()},
                                   sort_keys=True))


def job_table(lines: list[str]) -> dict[str, dict[str, str]]:
    """The job table's rows by job name, each a mapping of column header to cell."""
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "kind"])
    columns = lines[header].split()
    rows = {}
    for line in lines[header + 1:]:
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
    row = job_table(offline_plan.summary(result).splitlines())["llama-8b"]
    assert row["EFA"] == "yes"
    manifest = next(m for m in result.manifests if m["kind"] == "PyTorchJob")
    assert all(r[EFA] >= 1 for r in container_requests(manifest))


def test_job_table_and_manifest_ask_the_same_efa_decision(monkeypatch):
    """Turn the one decision off: the table and the rendered job both follow it."""
    cfg = plan("efa", **INHERITS).config
    job, pool = cfg.training_jobs["llama-8b"], cfg.pools()["efa"]
    target = JobTarget("training", "img@sha256:" + "0" * 64, pool, "checkpoints",
                       cfg.volumes["checkpoints"])
    for decided in (True, False):
        monkeypatch.setattr(TrainingJobConfig, "uses_efa", lambda self, pool: decided)
        row = job_table(offline_plan._job_lines(cfg))["llama-8b"]
        manifest = render("llama-8b", job, target)
        assert row["EFA"] == ("yes" if decided else "no")
        assert all((EFA in r) == decided for r in container_requests(manifest))
