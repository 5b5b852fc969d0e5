"""What `trainstack cost` adds for the CloudWatch Observability add-on (trainstack/cost/
observability.py): observations on every node, the cluster's own once, and the trainer's custom
metrics at a pool's ceiling; nothing when `observability.enabled` is false."""

import pytest
from test_cost import config, pool

from trainstack import cost
from trainstack.cost import observability as obs
from trainstack.cost import pricing

OBSERVATION, CUSTOM_METRIC = 0.21 / 1e6, 0.30 / 730  # prices.yaml, restated
HOUR = 60  # observations are counted per minute


def estimate(enabled: bool) -> cost.CostReport:
    return pricing.estimate(config(edit=lambda d: d.update(observability={"enabled": enabled})))


def lines(items, price: str) -> list[cost.Item]:
    return [i for i in items if i.price == price]


def test_idle_the_collector_costs_the_system_nodes_and_the_cluster():
    on, off = estimate(True), estimate(False)
    per_minute = 2 * obs.node_per_minute() + obs.cluster_per_minute()  # 2 m6i.large
    added = per_minute * HOUR * OBSERVATION
    # With the collector the job watcher also publishes its fleet figures (the dashboard's $/h
    # and nodes by pool), jobs or not: 14 custom metrics for the dev stack's five pools.
    (fleet,) = lines(on.fixed, "customMetricMonth")
    assert fleet.quantity == 14 and fleet.hourly == pytest.approx(14 * 0.30 / 730)
    assert on.idle_hourly - off.idle_hourly == pytest.approx(added + fleet.hourly)
    # docs/observability.md quotes the dev stack's idle figure (zero GPU nodes).
    assert round(on.monthly(added), 2) == 17.27
    assert not lines([*off.fixed, *(i for p in off.pools for i in p.ceiling)], "customMetricMonth")


def test_a_gpu_node_at_work_carries_its_observations_and_its_ranks_series():
    on, off = estimate(True), estimate(False)
    g5 = pool(on, "gpu-g5")  # 2 x g5.xlarge: 1 GPU each, no EFA
    (insights,) = lines(g5.ceiling, "containerInsightsObservations")
    per_node = obs.node_per_minute(1, 0, busy=True) * HOUR * OBSERVATION
    assert insights.hourly == pytest.approx(2 * per_node)
    (figures,) = lines(g5.ceiling, "customMetricMonth")
    assert figures.quantity == 2  # one DataWaitShare series per rank; no job runs there
    small = pool(on, "small")  # llama-1b runs there: its five job-level series too
    (figures,) = lines(small.ceiling, "customMetricMonth")
    assert figures.quantity == small.ceiling_gpus + 5
    assert figures.hourly == pytest.approx(figures.quantity * CUSTOM_METRIC)
    assert g5.ceiling_hourly - pool(off, "gpu-g5").ceiling_hourly == pytest.approx(
        2 * per_node + 2 * CUSTOM_METRIC
    )
    # docs/observability.md: a g5.12xlarge with EFA at work, per month.
    month = obs.node_per_minute(4, 1, busy=True) * HOUR * OBSERVATION * 730
    assert round(month, 2) == 6.46


def test_the_per_rank_series_are_the_trainers_own():
    series = obs.trainer_series()
    assert (series.per_job, series.per_rank) == (5, 1)
    assert series.count(jobs=2, ranks=16) == 26
