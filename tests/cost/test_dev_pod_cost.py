"""The dev pod's hourly cost while it runs: its own line in `trainstack cost` (text, --json) and
the plan summary, outside the idle total and inside its pool's ceiling."""

import json
import shutil
import types

import pytest
import yaml
from test_cost import ROOT, config

from trainstack import cost
from trainstack.cli import cost as cost_cli
from trainstack.offline import plan_report
from trainstack.offline.captured import OfflinePlan


def with_dev_pod(**fields):
    def edit(data):
        data["devPod"] = {"enabled": True, "nodePool": "small", **fields}
        data["devPodSshKeys"] = "ssh-ed25519 AAAAC3Nz test"

    return edit


def test_a_dev_pod_on_a_nodepool_is_priced_as_its_node_outside_the_idle_total():
    prices = cost.load_prices("us-west-2")
    plain = cost.estimate(config(), prices)
    report = cost.estimate(config(edit=with_dev_pod()), prices)
    dp = report.dev_pod
    # small allows g5 and g4dn: both have a 1-GPU xlarge of the same size; Karpenter launches
    # the cheaper, g4dn.xlarge, with the pool's 200 GiB root disk.
    assert prices.instance("g4dn.xlarge") < prices.instance("g5.xlarge")
    assert dp.instance == "g4dn.xlarge"
    assert dp.hourly == pytest.approx(prices.instance("g4dn.xlarge") + 200 * prices.gp3_gib)
    # Its node exists only while it runs, and it counts against small's maxGpus.
    assert report.idle_hourly == pytest.approx(plain.idle_hourly)
    assert report.ceiling_hourly == pytest.approx(plain.ceiling_hourly)
    assert "stops after 2h idle" in dp.summary() and "inside small's ceiling" in dp.summary()


def test_the_cheapest_fitting_type_not_the_first_listed():
    def g5_first(data):
        with_dev_pod()(data)
        data["karpenter"]["nodePools"]["small"]["instanceFamilies"] = ["g5", "g4dn"]

    assert cost.estimate(config(edit=g5_first)).dev_pod.instance == "g4dn.xlarge"


def test_more_gpus_need_a_bigger_node():
    report = cost.estimate(config(edit=with_dev_pod(gpus=4)))
    assert report.dev_pod.instance == "g4dn.12xlarge"


def test_idle_stop_off_says_it_never_stops():
    report = cost.estimate(config(edit=with_dev_pod(idleStopAfter="0")))
    assert "never stops: idle stop off" in report.dev_pod.summary()


def test_on_a_node_group_it_adds_nothing_to_the_groups_own_nodes():
    report = cost.estimate(config(edit=with_dev_pod(nodePool="gpu-g5")))
    assert not report.dev_pod.karpenter and report.dev_pod.hourly == 0
    assert "frees its GPUs, not the node" in report.dev_pod.summary()


def test_no_dev_pod_no_line():
    assert cost.estimate(config()).dev_pod is None


def test_text_json_and_plan_show_the_dev_pod(tmp_path, capsys):
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    data = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    data["config"]["trainstack:devPod"] = {"enabled": True, "nodePool": "small"}
    # A secret, as `pulumi config set --secret` stores it: the program refuses a plain one.
    data["config"]["trainstack:devPodSshKeys"] = {"secure": "v1:BBBB"}
    (tmp_path / "Pulumi.dp.yaml").write_text(yaml.safe_dump(data))

    assert cost_cli.main(["--stack", "dp"], project_root=tmp_path) == 0
    text = capsys.readouterr().out
    assert "Dev pod (while it runs):" in text and "dev pod: g4dn.xlarge" in text
    assert cost_cli.main(["--stack", "dp", "--json"], project_root=tmp_path) == 0
    dp = json.loads(capsys.readouterr().out)["devPod"]
    assert dp["instance"] == "g4dn.xlarge" and dp["idleStopAfter"] == "2h"
    assert dp["inIdleTotal"] is False

    result = types.SimpleNamespace(
        config=config(edit=with_dev_pod()), stack="dp", plan=OfflinePlan([], {})
    )
    lines = plan_report._cost_lines(result)
    assert any("dev pod on small: g4dn.xlarge" in line for line in lines)
    assert any(
        "`trainstack devpod connect`" in line for line in plan_report._job_lines(result.config)
    )
