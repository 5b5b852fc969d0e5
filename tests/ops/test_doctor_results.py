"""doctor's report (trainstack/ops/doctor/results.py)."""

from __future__ import annotations

from trainstack.ops import doctor
from trainstack.ops.doctor import FAIL, WARN


def test_render_marks_and_exit_code():
    results = [
        doctor.ok("a", "fine"),
        doctor.Result("b", WARN, "hmm", "w", "do x"),
        doctor.Result("c", FAIL, "broken", "jobs stall", "pulumi up"),
    ]
    text = doctor.render(results)
    assert "✔ a  fine" in text and "! b  hmm" in text and "✘ c  broken" in text
    assert "    why: jobs stall\n    fix: pulumi up" in text
    assert text.endswith("1 ok, 1 warning(s), 1 failed")
    assert doctor.exit_code(results) == 1 and doctor.exit_code(results[:2]) == 0
