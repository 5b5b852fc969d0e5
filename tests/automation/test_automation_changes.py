"""Changes grouped by trainstack component from URNs (automation/changes.py), and the Markdown's
table cells (automation/markdown.py)."""

from __future__ import annotations

import re
from pathlib import Path

from automation.changes import NO_COMPONENT, ChangeTally, component_of, has_changes
from automation.markdown import cell, render

REPO = Path(__file__).resolve().parents[2]
P = "urn:pulumi:dev::trainstack::trainstack:platform:Platform"


def test_component_is_the_top_level_child_of_the_platform():
    assert component_of(f"{P}$trainstack:network:Network$aws:ec2/vpc:Vpc::vpc") == "Network"
    # A job's resources count under Workloads, the top-level component holding the jobs.
    job = f"{P}$trainstack:jobs:Workloads$trainstack:jobs:TrainingJob$kubernetes:x:PyTorchJob::j"
    assert component_of(job) == "Workloads"
    assert component_of(f"{P}$trainstack:network:Network::trainstack-net") == "Network"
    assert component_of(f"{P}$aws:kms/key:Key::eks-secrets") == "Platform"
    assert component_of(f"{P}::trainstack") == "Platform"
    assert component_of("urn:pulumi:dev::trainstack::pulumi:providers:aws::default") == NO_COMPONENT
    assert component_of("urn:pulumi:dev::trainstack::pulumi:pulumi:Stack::trainstack-dev") == (
        NO_COMPONENT
    )
    assert component_of("not a urn") == NO_COMPONENT


def test_every_top_level_component_type_of_the_program_is_recognised():
    # The types the components register (components/*.py): each is a group of its own.
    types = set(re.findall(r'"(trainstack:[a-z_]+:[A-Za-z]+)"', _read_components())) - {
        "trainstack:platform:Platform"
    }
    assert len(types) >= 8
    for t in types:
        assert component_of(f"{P}${t}$aws:s3/bucket:Bucket::b") == t.rsplit(":", 1)[-1]


def _read_components() -> str:
    return "\n".join(p.read_text() for p in sorted((REPO / "components").glob("*.py")))


def test_tally_counts_a_replacement_once_and_ignores_unchanged():
    tally = ChangeTally()
    vpc = f"{P}$trainstack:network:Network$aws:ec2/vpc:Vpc::vpc"
    # A replacement's three steps, one resource.
    for op in ("create-replacement", "replace", "delete-replaced"):
        tally.add(vpc, op)
    tally.add(vpc, "replace")  # the same event seen twice (preview, then the step)
    tally.add(f"{P}$trainstack:network:Network$aws:ec2/subnet:Subnet::a", "same")
    tally.add(f"{P}$trainstack:cluster:Cluster$eks:index:Cluster::c", "update")
    tally.add(f"{P}$trainstack:cluster:Cluster$aws:iam/role:Role::r", "create")
    tally.add(f"{P}$trainstack:cluster:Cluster$aws:iam/role:Role::old", "delete")
    assert tally.by_component() == {
        "Cluster": {"create": 1, "update": 1, "replace": 0, "delete": 1},
        "Network": {"create": 0, "update": 0, "replace": 1, "delete": 0},
    }


def test_has_changes_follows_the_engine():
    # The engine's ResourceChanges.HasChanges: anything but same and the read ops.
    assert not has_changes({"same": 40, "read": 2})
    assert has_changes({"same": 40, "update": 1})
    assert not has_changes(None)


def test_cells_escape_pipes_and_newlines():
    assert cell("a | b\nc") == "a \\| b c"
    summary = {
        "operation": "preview",
        "stack": "dev",
        "result": "succeeded",
        "exit_code": 0,
        "change_summary": {},
        "changes_by_component": {},
        "policy_packs": ["policies"],
        "policy_violations": [
            {
                "pack": "p",
                "policy": "r",
                "level": "advisory",
                "message": "x | y",
                "urn": f"{P}$aws:kms/key:Key::k",
            },
            {
                "pack": "p",
                "policy": "s",
                "level": "advisory",
                "message": "z",
                "urn": f"{P}$aws:kms/key:Key::k",
                "controls": ["FSBP KMS.4"],
            },
        ],
        "cost_impact": None,
    }
    text = render(summary)
    assert "| advisory | p/r | k (aws:kms/key:Key) | x \\| y |" in text
    assert "| advisory | p/s (FSBP KMS.4) | k (aws:kms/key:Key) | z |" in text
