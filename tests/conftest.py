"""Fixtures and hooks shared by the whole suite."""

from __future__ import annotations

import os

import pytest
from crd_mirror import lagging_groups, skip_reason

from trainstack.offline import crds
from trainstack.offline.schemas import SchemaUnavailable


def _missing_crds(why: str) -> None:
    """Without a mirror (a clone with no network) a test of custom resources skips, saying how
    to get the CRDs; with TRAINSTACK_CRD_DIR set (CI) a missing or wrong file is a failure, so a
    broken mirror can never turn those tests into silent skips."""
    if os.environ.get(crds.ENV_CRD_DIR):
        pytest.fail(f"{crds.ENV_CRD_DIR} is set but {why}")
    pytest.skip(f"needs the pinned upstream CRDs: {why}")


@pytest.fixture(scope="session")
def pinned_crds() -> crds.CrdSet:
    """The pinned CRDs, all of them but the groups a mirror predates (crd_mirror.py), whose
    tests skip when they reach for them (below)."""
    found = crds.ensure(fetch=True)
    lagging = lagging_groups()
    missing = [c for c in found.missing if c.group not in lagging]
    if missing:
        kinds = [c.kind for c in missing]
        _missing_crds("; ".join([found.notice(kinds) or "", *found.problems]))
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Any test that reaches for a pinned CRD this machine lacks is handled as above, so a new
    # test of a custom resource needs no marker to pass in a clone with no network.
    try:
        return (yield)
    except SchemaUnavailable as err:
        if err.group in lagging_groups():
            pytest.skip(skip_reason({err.group}))
        _missing_crds(str(err))


# The files that take longest (they start trainers, torchrun or Ray), longest first: about a
# minute down to a dozen seconds each on a 2-core machine.
_LONG = (
    "tests/trainer/test_trainer_runs.py",
    "tests/trainer/test_trainer_ray.py",
    "tests/components/test_training_job.py",
    "tests/trainer/test_gpu_matrix.py",
    "tests/trainer/test_launch.py",
    "tests/trainer/test_s3_transfers.py",
    "tests/trainer/test_async_checkpoint.py",
    "tests/trainer/test_trainer_init.py",
    "tests/components/test_foreign_workload.py",
    "tests/trainer/test_hung_job.py",
)


def _rank(item) -> int:
    path = item.nodeid.split("::")[0]
    if path in _LONG:
        return _LONG.index(path)
    return len(_LONG) + (0 if path.startswith("tests/trainer/") else 1)


def pytest_collection_modifyitems(items):
    # Longest first: xdist's loadfile hands whole files to the workers in collection order, and
    # the long trainer files, collected last, left one worker finishing them alone.
    items.sort(key=_rank)


# Files that share expensive session state, each group one scope for xdist, so the one worker
# given the group builds that state once, where each worker given one of the files made its own:
# the reference trainer runs (tests/trainer/conftest.py single_run and two_rank_run), and the
# offline plans of the dev, efa and full stacks and their edits (support.plan and
# workload_support.stack_plan, cached per process).
_SCOPES = {
    "reference-runs": frozenset(
        {
            "tests/trainer/test_trainer_runs.py",
            "tests/trainer/test_s3_transfers.py",
            "tests/trainer/test_async_checkpoint.py",
            "tests/trainer/test_trainer_ray.py",
        }
    ),
    "stack-plans": frozenset(
        {
            "tests/policies/test_hardening.py",
            "tests/policies/test_policies.py",
            "tests/policies/test_rules_eks.py",
            "tests/policies/test_rules_iam.py",
            "tests/policies/test_rules_pod_security.py",
            "tests/policies/test_rules_storage.py",
            "tests/aws_rules/test_aws_rules.py",
            "tests/offline/test_plan_jobs.py",
            "tests/offline/test_plan_queues.py",
            "tests/components/test_identity_policies.py",
            "tests/components/test_runtime_flows.py",
            "tests/components/test_observability.py",
            "tests/components/test_trainjob_install.py",
        }
    ),
}
_SCOPE_OF = {path: scope for scope, paths in _SCOPES.items() for path in paths}


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile (`make test`), with the files above as one unit of work."""
    if config.getoption("dist") != "loadfile":
        return None  # xdist's own scheduler for any other mode
    from xdist.scheduler import LoadFileScheduling

    # xdist reorders the units by their number of tests unless told not to, which would undo
    # the longest-first order of _LONG (a unit of few long tests then starts last, alone).
    config.option.loadscopereorder = False

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return _SCOPE_OF.get(path) or super()._split_scope(nodeid)

    return Scheduling(config, log)
