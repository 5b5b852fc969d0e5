"""The baselines' coverage: every control is enforced at the level its severity asks for or
says why it needs none, every control a rule cites exists, and docs/security.md shows exactly
what policies/coverage.py generates from the rules' metadata."""

from __future__ import annotations

from pathlib import Path

from policies import coverage
from policies.baselines import Baseline, Control
from policies.rules.base import ADVISORY, MANDATORY, Rule

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_every_control_is_enforced_or_explained():
    assert coverage.gaps() == []


def test_the_baselines_name_their_source_and_have_unique_ids():
    ids = [c.id for b in coverage.BASELINES for c in b.controls]
    assert len(ids) == len(set(ids))
    for b in coverage.BASELINES:
        assert b.version and b.source.startswith("https://") and b.controls, b.name


def test_gaps_finds_each_kind_of_hole(monkeypatch):
    fake = Baseline(
        "B",
        "v1",
        "https://example.invalid",
        (
            Control("X 1", "needs a rule", "HIGH", "thing"),
            Control("X 2", "explained and ruled", "HIGH", "thing", reason="n/a"),
            Control("X 3", "advisory only", "MEDIUM", "thing"),
            Control("X 4", "advisory is enough", "LOW", "thing"),
        ),
    )

    def rule(name, level, controls):
        return Rule(name, "d", level, ("t",), lambda *_: [], controls=controls)

    rules = [
        rule("a", MANDATORY, ("X 2", "X 9")),
        rule("b", ADVISORY, ("X 3",)),
        rule("c", ADVISORY, ("X 4",)),
    ]
    monkeypatch.setattr(coverage, "BASELINES", (fake,))
    monkeypatch.setattr(coverage, "every_rule", lambda: rules)
    found = coverage.gaps()
    assert [g.split(" ")[0:2] for g in found] == [
        ["a", "names"],
        ["X", "1"],
        ["X", "2"],
        ["X", "3"],
    ], found


def test_security_doc_shows_the_generated_tables():
    text = DOC.read_text()
    assert coverage.render_into(text) == text, (
        "docs/security.md is stale: python -m policies.coverage --write docs/security.md"
    )
