"""`--expect-efa` (trainer/efa.py): NCCL's plugin lookup rules, the decision on what was found,
and the selftest run without EFA (it must fail, saying why) and with stand-ins
for libfabric's fi_info, the aws-ofi-nccl plugin and the CUDA runtime (it must pass).

The stand-in libraries are compiled here with the C compiler: ctypes then loads them, reads the
plugin's `ncclNetPlugin_vN` name and follows the libcudart.so link exactly as on a GPU node.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_trainer_selftest import REPO, by_name, run_selftest

from trainer import efa, exit_codes, node_check, selftest

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler to build the stand-in libraries")


def compile_lib(path: Path, source: str, soname: str | None = None) -> Path:
    src = path.with_suffix(".c")
    src.write_text(source)
    args = [CC, "-shared", "-fPIC", "-o", str(path), str(src)]
    if soname:
        args.append(f"-Wl,-soname,{soname}")
    subprocess.run(args, check=True, capture_output=True)
    return path


def plugin_source(name: str, version: int = 10) -> str:
    # The first member of NCCL's ncclNet_vN struct is the net's name (nccl_net.h).
    return (
        f"struct net {{ const char *name; void *init; }};\n"
        f'struct net ncclNetPlugin_v{version} = {{ "{name}", 0 }};\n'
    )


CUDART_SOURCE = "int cudaRuntimeGetVersion(int *v) { *v = 13000; return 0; }\n"


def fake_fi_info(bin_dir: Path, output: str, code: int = 0) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / "fi_info"
    tool.write_text(
        f"#!/bin/sh\n[ \"$1 $2\" = '-p efa' ] || exit 2\ncat <<'EOF'\n{output}\nEOF\nexit {code}\n"
    )
    tool.chmod(0o755)
    return tool


EFA_FI_INFO = "provider: efa\n    fabric: efa\n    domain: rdmap0s6-rdm\n    type: FI_EP_RDM"


# ------------------------------------------------------------------- NCCL's lookup, the decision


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ["libnccl-net.so"]),
        ("none", []),
        ("NONE", []),
        ("ofi", ["ofi", "libnccl-net-ofi.so"]),
        ("libnccl-net-ofi.so", ["libnccl-net-ofi.so"]),
        ("/opt/amazon/ofi-nccl/lib/libnccl-net.so", ["/opt/amazon/ofi-nccl/lib/libnccl-net.so"]),
        ("ofi,libnccl-net.so", ["ofi", "libnccl-net-ofi.so", "libnccl-net.so"]),
    ],
)
def test_plugin_candidates_follow_nccl(value, expected):
    env = {} if value is None else {"NCCL_NET_PLUGIN": value}
    assert efa.net_plugin_candidates(env) == expected


def good(**changes) -> efa.Facts:
    facts = efa.Facts(
        fi_info="/opt/amazon/efa/bin/fi_info",
        fi_info_code=0,
        fi_info_output=EFA_FI_INFO,
        plugin="libnccl-net.so",
        plugin_name="Libfabric",
        candidates=["libnccl-net.so"],
    )
    for k, v in changes.items():
        setattr(facts, k, v)
    return facts


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"fi_info": None}, "fi_info not found"),
        (
            {"fi_info_code": 1, "fi_info_output": "fi_getinfo: -61 (No data available)"},
            "no efa provider (`fi_info -p efa` exited 1: fi_getinfo: -61",
        ),
        ({"fi_info_output": "provider: tcp"}, "no efa provider"),
        ({"candidates": []}, "NCCL_NET_PLUGIN=none"),
        (
            {"plugin": None, "plugin_errors": ["libnccl-net.so: cannot open shared object file"]},
            "no NCCL net plugin loads (libnccl-net.so: cannot open",
        ),
        ({"plugin_name": None}, "not a NCCL net plugin"),
        ({"plugin_name": "IB"}, "is 'IB', not aws-ofi-nccl"),
        ({"nccl_net": "Socket"}, "NCCL_NET=Socket pins NCCL"),
        (
            {"cudart_error": "libcudart.so: cannot open shared object file"},
            "Failed to find CUDA Runtime library",
        ),
    ],
)
def test_each_missing_piece_is_a_problem_with_its_reason(changes, reason):
    assert efa.efa_problems(good()) == []
    assert efa.efa_problems(good(nccl_net="AWS Libfabric", plugin_name="AWS Libfabric")) == []
    problems = efa.efa_problems(good(**changes))
    assert len(problems) == 1 and reason in problems[0], problems


# ------------------------------------------------------------- the CUDA runtime link (build)


def test_cudart_is_found_in_the_maps_of_the_process():
    maps = (
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f1000000000-7f1000100000 r-xp 00000000 08:01 2 /opt/conda/lib/python3.11/site-packages"
        "/nvidia/cu13/lib/libcudart.so.13\n"
        "7f2000000000-7f2000001000 rw-p 00000000 00:00 0 \n"
    )
    assert efa.cudart_in_maps(maps, "13").endswith("/nvidia/cu13/lib/libcudart.so.13")
    assert efa.cudart_in_maps(maps, "12") is None
    assert efa.cudart_in_maps("7f 0 0 0 0 /x/libcudart.so.12.8.90\n") == "/x/libcudart.so.12.8.90"


@needs_cc
def test_link_makes_the_unversioned_name_load_the_versioned_runtime(tmp_path):
    wheel = tmp_path / "site-packages" / "nvidia" / "cu13" / "lib"
    wheel.mkdir(parents=True)
    real = compile_lib(wheel / "libcudart.so.13", CUDART_SOURCE, soname="libcudart.so.13")
    link = efa.link_cudart(tmp_path / "lib", str(real))
    assert link.name == "libcudart.so" and link.resolve() == real
    efa.link_cudart(tmp_path / "lib", str(real))  # again: replaces, does not fail
    version = ctypes.c_int()
    assert ctypes.CDLL(str(link)).cudaRuntimeGetVersion(ctypes.byref(version)) == 0
    assert version.value == 13000


# ------------------------------------------------------------------ the selftest, end to end


def selftest_here(capsys, *args: str) -> tuple[int, dict, str]:
    """The selftest in this process, where its checks need no fresh one: torch is imported
    already and nothing is probed through the loader (run_selftest starts a process)."""
    capsys.readouterr()
    code = selftest.main(list(args))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_expect_efa_fails_cleanly_without_efa(capsys):
    code, report, stderr = selftest_here(capsys, "--level", "quick", "--expect-efa")
    assert code == 1 and not report["ok"] and report["expect_efa"] is True
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["efa"], failed
    error = failed[0]["error"]
    assert "fi_info not found" in error and "no NCCL net plugin loads" in error
    assert "traceback" not in failed[0]  # a finding, not a crash
    assert by_name(report)["meta-init"]["ok"]  # the other checks still ran
    assert "FAIL efa" in stderr


def test_at_pod_start_a_failed_check_is_the_nodes_and_retryable(capsys):
    """`--node-check` (the pod-start check, components/job_command.py): the same failure exits
    201, which the operator retries (kubeflow/trainer v1.9.3 IsRetryableExitCode: >= 128) on
    a new pod, instead of 1, which failed the whole job for one node."""
    code, report, stderr = selftest_here(capsys, "--level", "quick", "--expect-efa", "--node-check")
    assert code == exit_codes.EXIT_NODE_CHECK == 201 and not report["ok"]
    assert "trainer.selftest: node check failed in pod" in stderr and "(efa)" in stderr


def test_node_check_failures_count_against_the_backoff_limit(tmp_path, capsys):
    """Counted in the pod's crash-loop record like trainer.launch's own failures, so a check
    that fails on every node still ends the job (EXIT_CRASH_LOOP) after backoffLimit."""
    ckpt = str(tmp_path / "ckpt")
    codes = [node_check.failure_code(["efa"], 1, ckpt) for _ in range(2)]
    assert codes == [exit_codes.EXIT_NODE_CHECK, exit_codes.EXIT_CRASH_LOOP]
    assert node_check.failure_code(["efa"], None, None) == exit_codes.EXIT_NODE_CHECK
    assert "exiting 201" in capsys.readouterr().err


def test_without_the_flag_efa_is_not_checked(capsys):
    code, report, stderr = selftest_here(capsys, "--level", "quick")
    assert code == 0, stderr
    assert by_name(report)["efa"]["detail"] == "not checked (no --expect-efa)"


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    """fi_info reporting the efa provider, an aws-ofi-nccl-named plugin and the CUDA runtime
    linked as the Dockerfile links it: the environment a healthy EFA pod gives the selftest."""
    lib = tmp_path / "lib"
    lib.mkdir()
    compile_lib(lib / "libnccl-net.so", plugin_source("Libfabric"))
    real = compile_lib(tmp_path / "libcudart.so.13", CUDART_SOURCE, soname="libcudart.so.13")
    efa.link_cudart(lib, str(real))
    fake_fi_info(tmp_path / "bin", EFA_FI_INFO)
    return {"LD_LIBRARY_PATH": str(lib), "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}


@needs_cc
def test_expect_efa_passes_with_efa_the_plugin_and_the_runtime(tmp_path, stand_ins, monkeypatch):
    for k, v in stand_ins.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NCCL_NET", raising=False)
    monkeypatch.delenv("NCCL_NET_PLUGIN", raising=False)
    code, report, stderr = run_selftest(tmp_path / "cwd", "--level", "quick", "--expect-efa")
    assert code == 0, stderr
    detail = by_name(report)["efa"]["detail"]
    assert "libnccl-net.so ('Libfabric')" in detail and "libcudart.so loads" in detail


@needs_cc
@pytest.mark.parametrize(
    "env, reason",
    [
        ({"NCCL_NET_PLUGIN": "none"}, "NCCL_NET_PLUGIN=none"),
        ({"NCCL_NET": "Socket"}, "NCCL_NET=Socket"),
        ({"NCCL_NET_PLUGIN": "ib"}, "no NCCL net plugin loads"),  # no libnccl-net-ib.so
    ],
)
def test_expect_efa_fails_when_nccl_is_steered_away(tmp_path, stand_ins, env, reason):
    # The same probe the selftest's check runs, through trainer.efa's own entry point (a new
    # process, so the loader reads LD_LIBRARY_PATH; no torch import, so it takes milliseconds).
    run_env = {**os.environ, **stand_ins, **env, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.efa", "check"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and reason in proc.stdout, proc.stdout + proc.stderr


@needs_cc
def test_a_plugin_that_is_not_aws_ofi_nccl_is_refused(tmp_path):
    other = compile_lib(tmp_path / "libnccl-net-other.so", plugin_source("IB", version=8))
    fake_fi_info(tmp_path / "bin", EFA_FI_INFO)
    facts = efa.probe({"PATH": str(tmp_path / "bin"), "NCCL_NET_PLUGIN": str(other)})
    assert facts.fi_info == str(tmp_path / "bin" / "fi_info") and facts.fi_info_code == 0
    assert (facts.plugin, facts.plugin_name) == (str(other), "IB")
    assert any("is 'IB', not aws-ofi-nccl" in p for p in efa.efa_problems(facts))
