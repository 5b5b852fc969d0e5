"""What served models cost (trainstack/cost/serving.py): a running server's nodes in the idle
figure, a stopped one at $0 with what a replica would cost, a node group's replicas on nodes
the group runs anyway; in `trainstack cost` text and JSON."""

import pytest
from test_cost import config

from trainstack import cost

MODEL = "s3://{artifactsBucket}/models/llama-8b"


def with_server(pool: str = "efa", **fields):
    def edit(data):
        data["servingJobs"] = {
            "llama-8b": {"model": MODEL, "nodePool": pool, "gpus": 4, "maxModelLen": 8192} | fields
        }
        data["dockerHubUser"] = "someone"
        data["dockerHubToken"] = "dckr_pat_x"

    return edit


def test_running_replicas_are_nodes_of_their_own_in_the_idle_figure():
    prices = cost.load_prices("us-west-2")
    stopped = cost.estimate(config("efa", with_server(replicas=0)), prices)
    running = cost.estimate(config("efa", with_server(replicas=2)), prices)
    (s,) = running.serving
    # efa allows g5.12/24/48xlarge: 4 GPUs fit the g5.12xlarge, with the pool's 300 GiB disk.
    replica = prices.instance("g5.12xlarge") + 300 * prices.gp3_gib
    assert (s.instance, s.total_gpus) == ("g5.12xlarge", 8)
    assert s.hourly == pytest.approx(2 * replica)
    assert running.idle_hourly == pytest.approx(stopped.idle_hourly + 2 * replica)
    # Inside the pool's ceiling, which does not move.
    assert running.ceiling_hourly == pytest.approx(stopped.ceiling_hourly)
    text = cost.format_report(running)
    assert "server llama-8b on efa: 2 x g5.12xlarge (8 GPUs)" in text
    assert running.to_dict()["serving"][0]["gpus"] == 8


def test_a_stopped_server_costs_nothing_and_says_what_a_replica_would():
    report = cost.estimate(config("efa", with_server(replicas=0)))
    (s,) = report.serving
    assert s.hourly == 0 and s.items == () and s.replica_hourly > 5
    assert "stopped (replicas 0), $0/h" in s.summary()
    assert report.to_dict()["serving"][0]["inIdleTotal"] is False


def test_on_a_node_group_its_gpus_are_the_groups_nodes():
    plain = cost.estimate(config("efa"))
    report = cost.estimate(config("efa", with_server("gpu-g5-efa", replicas=1)))
    (s,) = report.serving
    assert not s.karpenter and s.hourly == 0 and s.total_gpus == 4
    assert report.idle_hourly == pytest.approx(plain.idle_hourly)
    assert "on nodes the node group runs anyway" in s.summary()
