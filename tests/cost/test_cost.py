"""`trainstack cost`: the price table, the idle and ceiling arithmetic, and the command."""

import copy
import itertools
import json
import random
from pathlib import Path

import pytest
import yaml

from components import catalog
from components.config import parse
from trainstack import cost
from trainstack.cli import cost as cost_cli
from trainstack.cost import pricing
from trainstack.offline.stack_config import load_stack_config

ROOT = Path(__file__).resolve().parents[2]
# Catalog types the price table leaves out on purpose (no list price we are sure of).
UNPRICED = {"p4de.24xlarge", "p5.4xlarge", "p5e.48xlarge", "p5en.48xlarge"}


def stack_data(stack: str) -> tuple[dict, str]:
    """The stack's trainstack:* values (keys without namespace) and its region."""
    values = load_stack_config(ROOT, stack).values
    data = {
        k.split(":", 1)[1]: copy.deepcopy(v)
        for k, v in values.items()
        if k.startswith("trainstack:")
    }
    return data, values.get("aws:region", "us-west-2")


def config(stack: str = "dev", edit=None):
    data, region = stack_data(stack)
    # The pools' own arithmetic; the collector's lines are tests/cost/test_observability_cost.py's.
    data.setdefault("observability", {"enabled": False})
    if edit:
        edit(data)
    return parse(data, region)


def pool(report: cost.CostReport, name: str) -> cost.PoolCost:
    return next(p for p in report.pools if p.name == name)


# ---------------------------------------------------------------------------------- price table


def test_price_table_covers_the_catalog_and_both_regions():
    west = cost.load_prices("us-west-2")
    east = cost.load_prices("us-east-1")
    assert west.date and west.source and west.hours_per_month == 730
    assert set(catalog.GPU_INSTANCES) - set(west.instances) == UNPRICED
    assert east.instances == west.instances
    assert all(p > 0 for p in west.instances.values())
    assert all(t in catalog.ec2_instance_types() for t in west.instances)


def test_price_table_agrees_with_the_readme():
    p = cost.load_prices("us-west-2")
    assert p.eks_control_plane == 0.10 and p.nat_gateway == 0.045
    assert p.instances["m6i.large"] == 0.096 and p.instances["m6i.xlarge"] == 0.192
    assert round(p.instances["g5.xlarge"], 2) == 1.01
    assert round(p.instances["g5.12xlarge"], 2) == 5.67
    assert p.gp3_gib == pytest.approx(0.08 / 730)


def test_unknown_region_names_the_file_and_the_regions_priced():
    with pytest.raises(cost.PriceError, match=r"eu-west-1 .*prices.yaml.*us-east-1, us-west-2"):
        cost.load_prices("eu-west-1")


def test_malformed_price_table_is_an_error(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "date: '2026-01-01'\nsource: x\ncurrency: USD\nhoursPerMonth: 730\n"
        "regions: {us-west-2: {eksControlPlane: 0.1}}\n"
    )
    with pytest.raises(cost.PriceError, match="malformed.*natGateway"):
        cost.load_prices("us-west-2", bad)


# ------------------------------------------------------------------------------------ estimates


def test_without_the_plan_only_the_pools_are_priced_and_a_note_says_so():
    # The config alone does not say what the program creates: test_idle_resources.py prices
    # the example stacks from their plans.
    report = cost.estimate(config("dev"), stack="dev")
    assert report.fixed == () and report.unpriced == ()
    assert report.idle_hourly == pytest.approx(2 * 0.096 + 2 * 50 * 0.08 / 730)
    assert "the plan's resources were not given" in report.notes[0]
    assert all(not p.idle for p in report.pools if p.kind != "system node group")


def test_node_group_ceiling_is_max_size_of_the_dearest_type_with_disks():
    report = cost.estimate(config("dev"))
    g4dn = pool(report, "gpu-g4dn")
    assert g4dn.ceiling_mix == "2 x g4dn.2xlarge" and g4dn.ceiling_gpus == 2
    assert g4dn.spot  # SPOT group: priced at on-demand
    assert g4dn.ceiling_hourly == pytest.approx(2 * 0.752 + 2 * 150 * 0.08 / 730)
    system = pool(report, "system")
    assert system.ceiling_mix == "3 x m6i.large" and system.ceiling_gpus == 0


def test_nodepool_ceiling_is_the_dearest_mix_not_the_biggest_instance():
    report = cost.estimate(config("dev"))
    # small: g5 + g4dn families, maxGpus 4, maxNodes 4. Four 1-GPU g4dn.16xlarge ($4.352 each)
    # cost more than one 4-GPU g5.24xlarge ($8.144) or four g5.16xlarge.
    small = pool(report, "small")
    assert small.ceiling_mix == "4 x g4dn.16xlarge" and small.ceiling_gpus == 4
    assert small.spot
    # large: 64 GPUs in at most 16 nodes; 16 x g5.24xlarge costs what 8 x g5.48xlarge does, plus
    # 8 more root disks.
    large = pool(report, "large")
    assert large.ceiling_mix == "16 x g5.24xlarge" and large.ceiling_gpus == 64
    assert large.ceiling_hourly == pytest.approx(16 * 8.144 + 16 * 200 * 0.08 / 730)
    assert not large.spot


def test_max_nodes_bounds_the_pool():
    def edit(data):
        data["karpenter"]["nodePools"]["small"]["maxNodes"] = 1
        data["trainingJobs"]["llama-1b"]["nodes"] = 1  # the job must still fit the pool

    small = pool(cost.estimate(config("dev", edit)), "small")
    # One node of at most 4 GPUs: the g5.24xlarge is the dearest such node.
    assert small.ceiling_mix == "1 x g5.24xlarge"


def test_total_ceiling_is_fixed_plus_every_pool_at_its_ceiling():
    report = cost.estimate(config("dev"))
    assert report.ceiling_hourly == pytest.approx(
        report.fixed_hourly + sum(p.ceiling_hourly for p in report.pools)
    )
    assert report.gpu_ceiling == 72 == sum(p.ceiling_gpus for p in report.pools)


def test_on_demand_group_idles_on_its_first_listed_type():
    def edit(data):
        data["nodeGroups"]["gpu-g5"].update(instanceTypes=["g5.xlarge", "g5.2xlarge"], minSize=1)

    g5 = pool(cost.estimate(config("dev", edit)), "gpu-g5")
    assert [i.unit for i in g5.idle] == ["g5.xlarge", "GiB gp3"]
    assert g5.ceiling_mix == "2 x g5.2xlarge"


def test_spot_group_idles_on_its_dearest_type():
    def edit(data):
        data["nodeGroups"]["gpu-g4dn"]["minSize"] = 1

    g4dn = pool(cost.estimate(config("dev", edit)), "gpu-g4dn")
    assert g4dn.idle[0].unit == "g4dn.2xlarge"


def test_unpriced_instance_type_is_an_error_naming_type_and_file():
    def edit(data):
        data["karpenter"]["nodePools"]["large"]["instanceTypes"] = ["p5.4xlarge"]
        data["karpenter"]["nodePools"]["large"]["maxGpus"] = 8

    with pytest.raises(cost.PriceError) as err:
        cost.estimate(config("dev", edit))
    text = str(err.value)
    assert "'p5.4xlarge'" in text and "prices.yaml" in text
    assert "trainstack:karpenter.nodePools.large" in text


def brute_force(options, max_gpus, max_nodes):
    best = 0.0
    for n in range(max_nodes + 1):
        for combo in itertools.combinations_with_replacement(options, n):
            if sum(i.gpus for i, _ in combo) <= max_gpus:
                best = max(best, sum(p for _, p in combo))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_worst_mix_matches_brute_force(seed):
    rng = random.Random(seed)
    types = rng.sample(sorted(catalog.GPU_INSTANCES), rng.randint(1, 4))
    options = [(catalog.GPU_INSTANCES[t], round(rng.uniform(0.5, 20), 3)) for t in types]
    max_gpus, max_nodes = rng.randint(1, 12), rng.randint(1, 5)
    mix = pricing._worst_mix(options, max_gpus, max_nodes)
    price = {i.name: p for i, p in options}
    got = sum(price[t] * n for t, n in mix.items())
    assert got == pytest.approx(brute_force(options, max_gpus, max_nodes))
    assert sum(catalog.GPU_INSTANCES[t].gpus * n for t, n in mix.items()) <= max_gpus
    assert sum(mix.values()) <= max_nodes


def test_huge_pool_falls_back_to_a_bound_above_the_exact_answer(monkeypatch):
    exact = pool(cost.estimate(config("dev")), "large").ceiling_hourly
    monkeypatch.setattr(pricing, "MAX_SEARCH_STEPS", 10)
    large = pool(cost.estimate(config("dev")), "large")
    assert "bound" in large.note and large.ceiling_hourly >= exact - 1e-9


# ---------------------------------------------------------------------------------- the command


def test_report_text_names_the_price_date_and_the_spot_assumption(capsys):
    assert cost_cli.main(["--stack", "dev"], ROOT) == 0
    out = capsys.readouterr().out
    date = yaml.safe_load(cost.PRICES_FILE.read_text())["date"]
    assert f"on-demand list prices of {date}" in out
    assert "idle total" in out and "every pool at its ceiling" in out
    assert "small*" in out and "priced at the on-demand price" in out


def test_json_report(capsys):
    assert cost_cli.main(["--stack", "efa", "--json"], ROOT) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stack"] == "efa" and data["region"] == "us-west-2"
    assert data["prices"]["date"] and data["prices"]["source"]
    assert data["idleHourly"] == pytest.approx(1.57, abs=0.005)  # test_idle_resources.py
    assert {p["name"] for p in data["pools"]} == {"system", "gpu-g5-efa", "efa"}
    assert data["ceilingHourly"] > data["idleHourly"]


def test_command_fails_clearly_on_an_unpriced_type(tmp_path, capsys):
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    del table["regions"]["us-west-2"]["instances"]["g5.48xlarge"]
    prices = tmp_path / "prices.yaml"
    prices.write_text(yaml.safe_dump(table))
    assert cost_cli.main(["--stack", "dev", "--prices", str(prices)], ROOT) == 2
    err = capsys.readouterr().err
    assert "'g5.48xlarge'" in err and str(prices) in err


def test_command_fails_clearly_on_a_missing_stack(capsys):
    assert cost_cli.main(["--stack", "nope"], ROOT) == 2
    assert "Pulumi.nope.yaml not found" in capsys.readouterr().err
