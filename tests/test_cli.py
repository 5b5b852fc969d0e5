"""`trainstack plan` and `preflight` as a user runs them: output and files, errors, exit codes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from trainstack import cli, preflight
from trainstack.dockerfile import parse_dockerfile

ROOT = Path(__file__).resolve().parents[1]


def project_copy(tmp_path: Path, stack_edit=None, text: str | None = None) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    if text is not None:
        (tmp_path / "Pulumi.bad.yaml").write_text(text)
    else:
        data = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
        stack_edit(data["config"])
        (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_plan_prints_summary_and_writes_files(tmp_path, capsys):
    code = cli.main(["--project-dir", str(ROOT), "plan", "--stack", "efa",
                     "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Maximum GPUs this stack can run: 48" in out
    assert "gpu-g5-efa" in out and "What an offline plan cannot know" in out
    assert (tmp_path / "efa" / "manifests" / "nodepool-efa.yaml").exists()


def test_bad_stack_file_fails_with_the_config_error(tmp_path, capsys):
    def edit(cfg):
        cfg["trainstack:nodeGroups"]["gpu-g5"]["maxSize"] = -1
        cfg["trainstack:karpenter"]["nodePools"]["small"].pop("maxGpus")
    root = project_copy(tmp_path, edit)
    code = cli.main(["--project-dir", str(root), "plan", "--stack", "bad"])
    err = capsys.readouterr().err
    assert code == 2
    assert "trainstack:nodeGroups.gpu-g5.maxSize = -1" in err
    assert "trainstack:karpenter.nodePools.small.maxGpus: missing" in err
    assert not (root / "build").exists()  # nothing planned or written


def test_mandatory_policy_violation_fails_the_plan(tmp_path, capsys):
    def edit(cfg):  # valid config, but the API server open to the world
        cfg["trainstack:cluster"]["endpoint"] = {"public": True,
                                                 "publicAccessCidrs": ["0.0.0.0/0"],
                                                 "allowPublicFromAnywhere": True}
    root = project_copy(tmp_path, edit)
    code = cli.main(["--project-dir", str(root), "plan", "--stack", "bad"])
    out = capsys.readouterr().out
    assert code == 1
    assert "eks-endpoint-not-public" in out


def test_duplicate_key_and_unknown_stack_are_named(tmp_path, capsys):
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "    gpu-g5:\n", "    gpu-g4dn:\n      minSize: 0\n    gpu-g5:\n", 1)
    root = project_copy(tmp_path, text=text)
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "bad"]) == 2
    assert "gpu-g4dn" in capsys.readouterr().err
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "nope"]) == 2
    assert "bad" in capsys.readouterr().err  # lists the stacks that do exist


def test_module_entry_point_runs(tmp_path):
    run = subprocess.run([sys.executable, "-m", "trainstack", "plan", "--stack", "dev",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Offline plan of stack 'dev'" in run.stdout


def test_preflight_checks_the_project_image(tmp_path, capsys):
    """`trainstack preflight` reads trainer/Dockerfile and its requirements under --project-dir:
    the repository's own pass, a torch pin the base image does not carry fails with the fix."""
    assert cli.main(["--project-dir", str(ROOT), "preflight"]) == 0
    assert ": 0 error(s), 0 warning(s)" in capsys.readouterr().out
    dockerfile = (ROOT / "trainer" / "Dockerfile").read_text()
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "Dockerfile").write_text(dockerfile)
    for name in preflight.installed_requirement_files(dockerfile):
        (tmp_path / name).write_text("")
    (tmp_path / "trainer" / "requirements.txt").write_text("torch==1.0.0\n")
    assert cli.main(["--project-dir", str(tmp_path), "preflight", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    base_torch = parse_dockerfile(dockerfile).args["TORCH_VERSION"]
    assert [(f["code"], f["severity"], f["fix"]) for f in findings] == [
        ("TS103", "error", f"torch=={base_torch}")]
    assert findings[0]["where"] == "trainer/requirements.txt:1"


def test_plan_without_a_price_still_plans(tmp_path, capsys, monkeypatch):
    from trainstack import cost

    def unpriced(cfg, prices=None, stack=None):
        raise cost.PriceError("no us-west-2 on-demand price for instance type 'g7.xlarge'")
    monkeypatch.setattr(cost, "estimate", unpriced)
    code = cli.main(["--project-dir", str(ROOT), "plan", "--stack", "dev", "--out",
                     str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Cost: not estimated (no us-west-2 on-demand price for instance type 'g7.xlarge')" \
        in out
    assert "Policies: every rule of policies/ passes." in out
