"""`trainstack plan` and `preflight` as a user runs them: output and files, errors, exit codes."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from support import project_copy

from imagebuild import preflight
from imagebuild.dockerfile import parse_dockerfile
from trainstack import cli

ROOT = Path(__file__).resolve().parents[2]


def test_plan_prints_summary_and_writes_files(tmp_path, capsys):
    code = cli.main(["--project-dir", str(ROOT), "plan", "--stack", "efa", "--out", str(tmp_path)])
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
        cfg["trainstack:cluster"]["endpoint"] = {
            "public": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
            "allowPublicFromAnywhere": True,
        }

    root = project_copy(tmp_path, edit)
    code = cli.main(["--project-dir", str(root), "plan", "--stack", "bad"])
    out = capsys.readouterr().out
    assert code == 1
    assert "eks-endpoint-not-public" in out


def test_duplicate_key_and_unknown_stack_are_named(tmp_path, capsys):
    text = (
        (ROOT / "Pulumi.dev.yaml")
        .read_text()
        .replace("    gpu-g5:\n", "    gpu-g4dn:\n      minSize: 0\n    gpu-g5:\n", 1)
    )
    root = project_copy(tmp_path, text=text)
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "bad"]) == 2
    assert "gpu-g4dn" in capsys.readouterr().err
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "nope"]) == 2
    assert "bad" in capsys.readouterr().err  # lists the stacks that do exist


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
        ("TS103", "error", f"torch=={base_torch}")
    ]
    assert findings[0]["where"] == "trainer/requirements.txt:1"


def test_plan_without_a_price_still_plans(tmp_path, capsys, monkeypatch):
    from trainstack import cost

    def unpriced(cfg, prices=None, stack=None, resources=None):
        raise cost.PriceError("no us-west-2 on-demand price for instance type 'g7.xlarge'")

    monkeypatch.setattr(cost, "estimate", unpriced)
    code = cli.main(["--project-dir", str(ROOT), "plan", "--stack", "dev", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Cost: not estimated (no us-west-2 on-demand price for instance type 'g7.xlarge')" in out
    assert "Policies: every rule of policies/ passes." in out


# ------------------------------------------------------------------- rough edges (issue 14)


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_preflight_finds_the_project_from_a_subfolder(monkeypatch, capsys):
    """Like plan and cost, `trainstack preflight` searches upward for Pulumi.yaml; the default
    Dockerfile and requirements are the project's, named relative to it."""
    monkeypatch.chdir(ROOT / "trainer")
    assert cli.main(["preflight"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("preflight: trainer/Dockerfile with trainer/requirements.txt")
    # A path given on the command line stays relative to where the user is.
    assert cli.main(["preflight", "--dockerfile", "Dockerfile", "--json"]) == 0


def test_commands_outside_a_project_say_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command in ("preflight", "cost", "plan"):
        assert cli.main([command]) == 2, command
        err = one_line(capsys.readouterr().err)
        assert err.startswith(f"trainstack {command}: no Pulumi.yaml in {tmp_path.resolve()} ")
        assert "--project-dir" in err


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainstack", *args]


def test_output_into_a_pipe_closed_by_its_reader_ends_quietly():
    """A reader that leaves before the command writes: the read end is closed before it
    starts, so the run meets the closed pipe at its first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        # One handler in cli.main serves every command; `cost` meets the pipe its reader
        # leaves in test_cost_piped_into_head_prints_no_traceback. (--help needs none: argparse
        # drops an OSError while printing help itself.)
        for args in (["diagnose", "--log", "-"],):
            run = subprocess.run(
                command(*args),
                cwd=ROOT,
                stdout=write,
                stderr=subprocess.PIPE,
                input="",
                text=True,
                timeout=120,
            )
            # 141 is what a shell reports for a SIGPIPE death (128 + 13): the output was cut.
            assert (run.returncode, run.stderr) == (141, ""), args
    finally:
        os.close(write)


def test_cost_piped_into_head_prints_no_traceback():
    line = "Cost of stack 'dev' in us-west-2"
    run = subprocess.run(
        f"{shlex.join(command('cost'))} | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.startswith(line) and run.stdout.count("\n") == 1
    assert run.stderr == ""


def test_logs_into_a_closed_pipe_is_not_an_api_server_error(monkeypatch, capsys):
    """A closed stdout is an OSError too: it must not read as "cannot reach the API server"."""
    from trainstack.ops import jobs

    def stream(api, job, namespace, follow):
        print("step 1 | loss 2.0")
        sys.stdout.flush()

    monkeypatch.setattr(jobs, "stream_logs", stream)
    monkeypatch.setattr("trainstack.ops.kube.current_api_client", lambda kubeconfig: object())
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as closed:
        monkeypatch.setattr("sys.stdout", closed)
        assert cli.main(["logs", "llm"]) == 141
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_version(capsys, monkeypatch):
    from importlib import metadata

    import automation.cli
    from trainstack import project

    for main in (cli.main, automation.cli.main):
        with pytest.raises(SystemExit) as done:
            main(["--version"])
        assert done.value.code == 0
        assert capsys.readouterr().out.split()[-1] == pyproject_version()

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert project.package_version() == pyproject_version()


def help_of(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", ["cost", "diagnose"])
def test_command_help_lists_the_commands_own_options(name, capsys):
    """`trainstack cost --help` shows --prices and every other option trainstack.cost reads,
    each with a description (and diagnose the same)."""
    import argparse
    import importlib

    module = importlib.import_module(f"trainstack.cli.{name}")
    own = argparse.ArgumentParser()
    module.add_arguments(own)
    shown = " ".join(help_of([name, "--help"], capsys).split())
    for action in own._actions[1:]:  # [0] is -h
        assert action.help and action.option_strings[0] in shown, action
        assert "".join(action.help.split()) in "".join(shown.split())
    assert "trainstack/cost/" not in help_of(["--help"], capsys)


def test_cost_subcommand_passes_its_arguments_through(monkeypatch, tmp_path):
    """`trainstack cost` hands --stack/--json and any option of its own (--prices) to
    trainstack.cli.cost with the project folder; other commands still reject unknown flags."""
    from trainstack.cli import cost

    calls = []
    monkeypatch.setattr(
        cost,
        "run",
        lambda args: calls.append(((args.stack, args.json, args.prices), args.project_dir)) or 0,
    )
    argv = [
        "--project-dir",
        str(tmp_path),
        "cost",
        "--stack",
        "efa",
        "--json",
        "--prices",
        "p.yaml",
    ]
    assert cli.main(argv) == 0
    assert calls == [(("efa", True, Path("p.yaml")), tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["doctor", "--prices", "p.yaml"])
    assert exit_.value.code == 2
