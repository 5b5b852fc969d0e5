"""The dev pod's idle stop: `devPod.idleStopAfter`/`idleGpuPercent` checked with the key named,
the watcher in the startup script, and the restart policy that lets an idle exit end the pod.

The script really runs under bash with stand-in servers, so "exit 0 ends the pod, a crash
restarts it" is the script's behaviour, not a string match."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support import stack_data

from components import config, dev_pod
from trainstack.offline import schemas

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev@sha256:" + "ab" * 32


def parse(**fields) -> config.PlatformConfig:
    data, region = stack_data("dev")
    data["devPod"] = {"enabled": True, "nodePool": "small", "ssh": False, **fields}
    data["devPodSshKeys"] = "ssh-ed25519 AAAAC3Nz test"
    return config.parse(data, region)


def render(**fields) -> dict:
    cfg = parse(**fields)
    return dev_pod.render_pod(
        cfg.dev_pod, namespace="training", image=IMAGE, pool=cfg.pools()["small"]
    )


def issues(**fields) -> list[str]:
    with pytest.raises(config.ConfigError) as err:
        parse(**fields)
    return err.value.issues


def test_idle_stop_is_on_by_default_for_two_hours():
    pod = render()
    script = pod["spec"]["containers"][0]["command"][2]
    assert "python -m trainer.idle_stop --after 7200 --ports 8888 --gpu-below 5 &" in script
    # Exit 0 (idle) must end the pod, so not Always; a crash (non-zero) still restarts it.
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert schemas.validate_object(pod, "1.34") == []


def test_the_watcher_counts_every_enabled_port_and_the_gpu_threshold():
    cfg = parse(ssh=True, idleStopAfter="1h30m", idleGpuPercent=20)
    script = dev_pod.startup_script(cfg.dev_pod)
    assert "--after 5400 --ports 2222,8888 --gpu-below 20 &" in script


@pytest.mark.parametrize("off", ["0", 0, None])
def test_idle_stop_off_keeps_the_pod_running_forever(off):
    pod = render(idleStopAfter=off)
    assert "idle_stop" not in pod["spec"]["containers"][0]["command"][2]
    assert pod["spec"]["restartPolicy"] == "Always"


@pytest.mark.parametrize(
    "value,allowed",
    [("2 hours", "not a duration"), ("2d", "not a duration"), ("5m", "use 10m or more")],
)
def test_a_bad_idle_time_names_the_key_and_what_is_allowed(value, allowed):
    found = issues(idleStopAfter=value)
    assert any(
        i.startswith(f"trainstack:devPod.idleStopAfter = {value!r}") and allowed in i for i in found
    ), found


@pytest.mark.parametrize("value", [0, 101])
def test_the_gpu_threshold_is_a_percentage(value):
    found = issues(idleGpuPercent=value)
    assert any("trainstack:devPod.idleGpuPercent" in i for i in found), found


def _run_script(tmp_path, watcher_exit: int, server_exit: int | None) -> int:
    """The startup script with its servers and watcher replaced by shell stand-ins."""
    cfg = parse(idleStopAfter="10m").dev_pod
    script = dev_pod.startup_script(cfg)
    server = "sleep 30 &" if server_exit is None else f"(sleep 0.2; exit {server_exit}) &"
    watcher = f"(sleep {0.2 if server_exit is None else 5}; exit {watcher_exit}) &"
    script = script.replace(dev_pod._JUPYTER, server + "\n")
    script = script.replace(dev_pod._idle_stop(cfg, 600), watcher + "\n")
    assert "jupyter" not in script and "idle_stop" not in script
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, timeout=20).returncode


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_an_idle_exit_ends_the_script_with_0_and_a_crash_with_its_status(tmp_path):
    # 0 with restartPolicy OnFailure: the pod ends Succeeded and is not restarted.
    assert _run_script(tmp_path, watcher_exit=0, server_exit=None) == 0
    # A server crash comes first: non-zero, so OnFailure restarts the container.
    assert _run_script(tmp_path, watcher_exit=0, server_exit=3) == 3
