"""`python -m automation summary` (automation/offline.py): no Pulumi CLI, the offline plan's
policy rules and the prices of head and base; exit 3 when a mandatory rule fails."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml
from automation_support import REPO, drive, no_real_cli  # noqa: F401  (fixtures)

from automation import EXIT_OK, EXIT_POLICY
from trainstack.offline.plan import run as offline_plan

# A public endpoint open to the world: the config allows it when asked for explicitly, the
# mandatory eks-endpoint-not-public rule (policies/rules/eks.py) refuses it.
PUBLIC = {"public": True, "publicAccessCidrs": ["0.0.0.0/0"], "allowPublicFromAnywhere": True}


def _project(tmp_path: Path, edit=None) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    data = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    if edit:
        edit(data["config"])
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def _open_endpoint(config: dict) -> None:
    config["trainstack:cluster"]["endpoint"] = PUBLIC


def test_summary_offline_lists_the_mandatory_violation_and_exits_3(tmp_path):
    project = _project(tmp_path, _open_endpoint)
    base = tmp_path / "base.yaml"
    shutil.copy(REPO / "Pulumi.dev.yaml", base)
    md = tmp_path / "summary.md"
    # No Pulumi command at all: a call would fail the test (drive passes none, no_real_cli).
    code, _, err = drive(
        [
            *("summary", "--stack", "dev", "--project-dir", str(project)),
            *("--base-stack-file", str(base), "--markdown", str(md)),
        ],
        None,
    )
    assert code == EXIT_POLICY, err
    # The plan's own verdict, not the formatter's: which resource the rule flags.
    flagged = [
        v
        for v in offline_plan(project, "dev", fetch_crds=False).mandatory_violations
        if v.rule == "eks-endpoint-not-public"
    ]
    assert flagged
    text = md.read_text()
    assert "## trainstack `dev`: summary refused by a mandatory policy (exit 3)" in text
    assert "The preview did not run" in text
    for v in flagged:
        # The rule's baseline controls, if it has any, after its name.
        controls = f" ({', '.join(v.controls)})" if v.controls else ""
        rule = f"trainstack-policies/eks-endpoint-not-public{controls}"
        assert f"| mandatory | {rule} | {v.resource} ({v.type}) |" in text
    assert "- Before: base stack file" in text
    # The endpoint costs nothing: the ceiling does not move.
    assert re.search(r"\| Max GPUs \| (\d+) \| \1 \| 0 \|", text)


def test_summary_of_a_clean_stack_exits_0(tmp_path):
    project = _project(tmp_path)
    md = tmp_path / "summary.md"
    code, _, err = drive(
        ["summary", "--stack", "dev", "--project-dir", str(project), "--markdown", str(md)], None
    )
    assert code == EXIT_OK, err
    assert "**passed**: 0 mandatory" in md.read_text()


def test_pack_name_is_the_packs_own():
    # Violations read as the CLI would show them: pack/rule with the name the pack registers.
    # One constant serves the pack's registration, the offline records and the live events.
    assert "PolicyPack(name=PACK_NAME," in (REPO / "policies/__main__.py").read_text()
