"""`python -m trainer.selftest`: the image build's check, run as the build runs it (a subprocess
in an empty directory), plus the check runner in-process with a deliberately failing check."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from trainer import selftest

REPO = Path(__file__).resolve().parents[2]
DIST_VARS = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "GROUP_RANK",
    "ROLE_RANK",
    "TORCHELASTIC_RUN_ID",
)


def run_selftest(cwd: Path, *args: str) -> tuple[int, dict, str]:
    # Alone, not inside a parent's process group.
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cwd.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.selftest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_full_passes_reports_every_check_and_writes_nothing_in_the_cwd(tmp_path):
    """The one level run in a process of its own (the import checks mean something only in a
    fresh one); full runs every standard check too. Level filtering: the quick run below."""
    cwd, out = tmp_path / "cwd", tmp_path / "report.json"
    code, report, stderr = run_selftest(cwd, "--level", "full", "--out", str(out))
    assert code == 0, stderr
    assert report["ok"] and report["level"] == "full"
    checks = by_name(report)
    assert all(c["ok"] and c["seconds"] >= 0 and "detail" in c for c in checks.values()), stderr
    assert {
        "import-trainer",
        "meta-init",
        "forward-backward",
        "fsdp-step",
        "checkpoint-roundtrip",
        "train-run",
    } <= checks.keys()
    assert "parameters changed" in checks["fsdp-step"]["detail"]
    assert json.loads(out.read_text()) == report
    env = report["environment"]
    assert env["torch"] and env["gloo_available"] is True and "python" in env
    # One human line per check on stderr.
    assert all(f"PASS {name}" in stderr for name in checks)
    assert list(cwd.iterdir()) == []


def test_expect_cuda_fails_on_a_cpu_only_build(capsys):
    capsys.readouterr()
    code = selftest.main(["--level", "quick", "--expect-cuda"])  # in this process: no import
    out, stderr = capsys.readouterr()
    report = json.loads(out)
    if report["environment"]["cuda"] is not None:  # a CUDA build of torch: nothing to show here
        assert code == 0, stderr
        return
    assert code == 1 and not report["ok"]
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["cuda-build"]
    assert "not a CUDA build" in failed[0]["error"]
    # Independent checks still ran; the quick level stops before the training checks.
    assert by_name(report)["meta-init"]["ok"]
    assert "fsdp-step" not in by_name(report)
    assert "FAIL cuda-build" in stderr


def test_a_failing_check_is_reported_and_its_dependents_skipped():
    def fine(ctx):
        ctx["seen"] = True
        return "fine"

    def finding(ctx):
        selftest.require(False, "the weights are not finite")

    def crash(ctx):
        raise RuntimeError("boom")

    checks = [
        selftest.Check("a", "quick", fine),
        selftest.Check("b", "quick", finding, ("a",)),
        selftest.Check("c", "quick", fine, ("b",)),
        selftest.Check("d", "quick", crash, ("a",)),
        selftest.Check("e", "quick", fine, ("a",)),
    ]
    log = io.StringIO()
    results = selftest.run_checks(checks, ctx := {}, log=log)

    assert ctx["seen"]
    r = {x["name"]: x for x in results}
    assert [x["name"] for x in results] == ["a", "b", "c", "d", "e"]
    assert r["a"]["ok"] and r["a"]["detail"] == "fine" and "error" not in r["a"]
    assert r["b"] == {
        "name": "b",
        "ok": False,
        "error": "the weights are not finite",
        "seconds": r["b"]["seconds"],
    }
    assert r["c"]["skipped"] and not r["c"]["ok"] and "needs b" in r["c"]["error"]
    assert not r["d"]["ok"] and r["d"]["error"] == "RuntimeError: boom"
    assert "RuntimeError" in r["d"]["traceback"]
    assert r["e"]["ok"]  # a failure stops only what depends on it
    assert all(isinstance(x["seconds"], float) for x in results)
    lines = log.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["PASS", "FAIL", "SKIP", "FAIL", "PASS"]
