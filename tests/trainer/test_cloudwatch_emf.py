"""The trainer's figures as CloudWatch Embedded Metric Format records (trainer/cloudwatch_emf.py),
received by a real TCP server socket in this process, as the CloudWatch agent's tcplog receiver
would take them: one JSON document per line, each checked against the EMF specification's
document structure (CloudWatch user guide, "Specification: Embedded metric format")."""

from __future__ import annotations

import json
import math
import socket
import time

import pytest
import torch

from trainer import cloudwatch_emf as emf
from trainer import metrics

# MetricDatum Unit values (CloudWatch API reference, StandardUnit).
UNITS = {
    *("Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes"),
    *("Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"),
    *("Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second"),
    *("Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second"),
    *("Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"),
}
THROUGHPUT = {"tokens_per_s": 5120.0, "mfu": 0.42, "data_share": 0.05}


def check_emf(doc: dict) -> list[tuple[tuple[str, ...], str]]:
    """The specification's rules for one document; returns its (dimension set, metric) pairs.

    Root: a JSON object with `_aws`, holding `Timestamp` (milliseconds since the epoch) and
    `CloudWatchMetrics` (MetricDirective objects). A directive: `Namespace` (1-255 characters),
    `Dimensions` (DimensionSets: arrays of at most 30 names, each naming a root member whose
    value is a string), `Metrics` (at most 100 MetricDefinitions: `Name` naming a root member
    whose value is a number, optional `Unit` and `StorageResolution` 1 or 60), no other members.
    """
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    assert abs(meta["Timestamp"] / 1000 - time.time()) < 300
    assert isinstance(meta["CloudWatchMetrics"], list) and meta["CloudWatchMetrics"]
    found = []
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        ns = directive["Namespace"]
        assert isinstance(ns, str) and 1 <= len(ns) <= 255 and not ns.startswith(":")
        assert len(directive["Metrics"]) <= 100
        for dims in directive["Dimensions"]:
            assert isinstance(dims, list) and len(dims) <= 30
            for d in dims:
                assert isinstance(doc[d], str) and 1 <= len(doc[d]) <= 1024, d
        for m in directive["Metrics"]:
            assert set(m) <= {"Name", "Unit", "StorageResolution"}
            assert isinstance(doc[m["Name"]], (int, float)) and math.isfinite(doc[m["Name"]])
            assert m.get("Unit", "None") in UNITS
            assert m.get("StorageResolution", 60) in (1, 60)
            found += [(tuple(dims), m["Name"]) for dims in directive["Dimensions"]]
    return found


@pytest.fixture
def agent():
    """A listening TCP socket on a free local port, as the agent's EMF listener."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(5)
    yield server
    server.close()


def received(server: socket.socket, connections: int, lines: int) -> list[dict]:
    """The JSON documents `connections` clients sent, `lines` of them in all."""
    conns = [server.accept()[0] for _ in range(connections)]
    data = b""
    try:
        while data.count(b"\n") < lines:
            for c in conns:
                c.settimeout(0.05)
                try:
                    data += c.recv(65536)
                except TimeoutError:
                    pass
    finally:
        for c in conns:
            c.close()
    return [json.loads(line) for line in data.decode().splitlines()]


def publisher(server: socket.socket, rank: int, **kw) -> emf.Publisher:
    port = server.getsockname()[1]
    return emf.Publisher(
        f"tcp://127.0.0.1:{port}",
        cluster="trainstack-dev",
        job="llama-1b",
        rank=rank,
        log_group="/aws/containerinsights/trainstack-dev/training",
        **kw,
    )


def test_every_rank_sends_records_the_emf_specification_accepts(agent):
    ranks = [publisher(agent, r) for r in range(2)]
    for step in (10, 20):
        for p in ranks:
            assert p.publish(step, 2.5, THROUGHPUT)
    docs = received(agent, connections=2, lines=4)
    assert len(docs) == 4
    job_set, rank_set = emf.DIMENSION_SETS
    for doc in docs:
        pairs = check_emf(doc)
        # All five figures per job; per rank only the data wait, the figure ranks differ in.
        assert sorted(n for d, n in pairs if d == job_set) == sorted(emf.METRICS)
        assert [n for d, n in pairs if d == rank_set] == ["DataWaitShare"]
        assert {d["Namespace"] for d in doc["_aws"]["CloudWatchMetrics"]} == {emf.NAMESPACE}
        # The agent writes it to this group (the one its role may write), one stream per job.
        assert doc["_aws"]["LogGroupName"] == "/aws/containerinsights/trainstack-dev/training"
        assert doc["_aws"]["LogStreamName"] == "llama-1b"
        assert doc["ClusterName"] == "trainstack-dev" and doc["Job"] == "llama-1b"
        assert doc["MFU"] == pytest.approx(42.0) and doc["DataWaitShare"] == pytest.approx(5.0)
        assert doc["TokensPerSecond"] == 5120.0 and doc["Loss"] == 2.5
    assert sorted((d["Rank"], d["Step"]) for d in docs) == [
        ("0", 10),
        ("0", 20),
        ("1", 10),
        ("1", 20),
    ]


def test_a_non_finite_figure_is_left_out_and_the_record_stays_valid(agent):
    p = publisher(agent, 0)
    assert p.publish(30, math.nan, {**THROUGHPUT, "mfu": math.inf})
    (doc,) = received(agent, connections=1, lines=1)
    names = {n for _, n in check_emf(doc)}
    assert names == {"Step", "TokensPerSecond", "DataWaitShare"}
    assert "Loss" not in doc and "MFU" not in doc


def test_a_dead_agent_is_said_once_and_not_retried_until_later():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    said, now = [], [100.0]
    p = emf.Publisher(
        f"tcp://127.0.0.1:{port}",
        cluster="c",
        job="j",
        rank=3,
        clock=lambda: now[0],
        say=said.append,
        retry_after_s=60,
    )
    assert p.publish(1, 2.0, THROUGHPUT) is False  # refused: no exception reaches training
    assert p.failures == 1 and len(said) == 1 and "rank 3" in said[0]
    assert p.publish(2, 2.0, THROUGHPUT) is False
    assert p.failures == 1  # inside the window nothing was tried
    now[0] += 61
    assert p.publish(3, 2.0, THROUGHPUT) is False
    assert p.failures == 2 and len(said) == 1  # tried again, and not said again


def test_the_stack_environment_turns_it_on(agent):
    port = agent.getsockname()[1]
    assert emf.from_env(0, {}) is None
    said = emf.from_env(0, {emf.ENV_ENDPOINT: f"udp://127.0.0.1:{port}"})
    assert said is None  # not TCP: refused (rank 0 says so) and nothing is sent
    p = emf.from_env(
        5,
        {
            emf.ENV_ENDPOINT: f"tcp://127.0.0.1:{port}",
            emf.ENV_CLUSTER: "trainstack-efa",
            emf.ENV_LOG_GROUP: "/aws/containerinsights/trainstack-efa/training",
            emf.ENV_JOB: "llama-8b",
        },
    )
    assert p is not None and (p.cluster, p.job, p.rank) == ("trainstack-efa", "llama-8b", 5)
    assert p.address == ("127.0.0.1", port)


def test_the_recorder_sends_each_progress_line_on_every_rank(agent, tmp_path):
    """A rank other than 0 writes no metrics.jsonl (enabled=False) and still sends its figures:
    its data wait is its own."""
    rec = metrics.Recorder(
        str(tmp_path), 10, 6e9, peak=1.0, world=2, enabled=False, emf=publisher(agent, 1)
    )
    rec.step(1, 3.0, 1e-3, 1.0, step_time=0.5, data_time=0.1, tokens=1024)
    rec.step(2, 2.9, 1e-3, 1.0, step_time=0.5, data_time=0.2, tokens=1024)
    rec.log(2, 2.9, torch.device("cpu"))
    rec.close()
    (doc,) = received(agent, connections=1, lines=1)
    check_emf(doc)
    assert doc["Rank"] == "1" and doc["Step"] == 2 and doc["Loss"] == 2.9
    assert doc["DataWaitShare"] == pytest.approx(30.0)  # 0.3 s of 1.0 s waiting for data
    assert doc["TokensPerSecond"] == pytest.approx(2048)
    assert not (tmp_path / "metrics.jsonl").exists()
