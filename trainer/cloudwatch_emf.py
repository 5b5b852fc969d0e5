"""The trainer's figures as CloudWatch Embedded Metric Format records, sent to the CloudWatch
agent the stack installs (components/observability.py), at every progress line.

The stack sets `TRAINSTACK_EMF_ENDPOINT` (tcp://host:port: the agent's Service, which keeps the
connection on the pod's own node), `TRAINSTACK_CLUSTER_NAME` and `TRAINSTACK_EMF_LOG_GROUP` in a
job's pods when `observability.enabled`; without the endpoint nothing is sent. The agent writes
each record, one JSON object per line (its tcplog receiver), to the log group the record names
(`_aws.LogGroupName`; its awscloudwatchlogs exporter honours it in EMF mode), and CloudWatch Logs
extracts the metrics under `CloudWatchMetrics`.

Every rank sends one record per progress line. Its members carry the job and the rank, so CloudWatch
Logs Insights splits any figure by rank. Two metric directives:

- (ClusterName, Job): all five figures. One series per job whatever its size; each rank adds a
  sample, so Average is the mean over ranks and Maximum of DataWaitShare the worst rank.
- (ClusterName, Job, Rank): DataWaitShare only. In a synchronous job the step, the loss (one
  all-reduce), tokens/s and MFU (every rank waits for the slowest in each collective) are the same
  on every rank, so a series per rank would repeat one figure N times at N times the price (each
  series is a custom metric, billed per metric-month); each rank loads its own data, so the data
  wait is what tells one straggling rank from the rest.

Fail-soft: a dead or unreachable agent never stops or slows training. Sends have a short timeout,
the first failure is logged once, and after a failure nothing is tried for `retry_after_s`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

# Contract with the dashboard and alarms (components/metric_catalog.py): do not rename.
NAMESPACE = "trainstack/Training"
METRICS = ("Step", "Loss", "TokensPerSecond", "MFU", "DataWaitShare")
DIMENSION_SETS = (("ClusterName", "Job"), ("ClusterName", "Job", "Rank"))
# Which metrics each dimension set carries (see the module docstring).
METRICS_BY_DIMENSIONS = {
    DIMENSION_SETS[0]: METRICS,
    DIMENSION_SETS[1]: ("DataWaitShare",),
}
# CloudWatch units (MetricDatum Unit values); MFU and the data wait as percentages.
UNITS = {
    "Step": "Count",
    "Loss": "None",
    "TokensPerSecond": "Count/Second",
    "MFU": "Percent",
    "DataWaitShare": "Percent",
}

ENV_ENDPOINT = "TRAINSTACK_EMF_ENDPOINT"
ENV_CLUSTER = "TRAINSTACK_CLUSTER_NAME"
ENV_LOG_GROUP = "TRAINSTACK_EMF_LOG_GROUP"
ENV_JOB = "JOB_NAME"  # components/pod_spec.py training_env
LOCAL_JOB = "local"  # a run outside the stack's jobs

CONNECT_TIMEOUT_S = 0.2
RETRY_AFTER_S = 60.0


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """(host, port) of `tcp://host:port`; the agent's UDP listener is not used (a datagram
    over 64 KiB is lost without a word), nor is anything else."""
    parts = urlsplit(endpoint)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ValueError(f"{ENV_ENDPOINT}={endpoint!r}: expected tcp://host:port")
    return parts.hostname, parts.port


def figures(step: int, loss: float, throughput: Mapping[str, float]) -> dict[str, float]:
    """The five figures of a progress line (metrics.Recorder.throughput's keys), in their
    units; a non-finite one is left out (JSON has no NaN, and CloudWatch takes none)."""
    values = {
        "Step": float(step),
        "Loss": float(loss),
        "TokensPerSecond": float(throughput["tokens_per_s"]),
        "MFU": 100.0 * float(throughput["mfu"]),
        "DataWaitShare": 100.0 * float(throughput["data_share"]),
    }
    return {k: v for k, v in values.items() if math.isfinite(v)}


def record(
    values: Mapping[str, float],
    *,
    cluster: str,
    job: str,
    rank: int,
    log_group: str | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """One EMF document (the CloudWatch EMF specification's root node): `_aws` with the
    Timestamp (ms since the epoch) and a MetricDirective per dimension set, and every dimension
    and metric as a member of the root."""
    directives = []
    for dims, names in METRICS_BY_DIMENSIONS.items():
        present = [n for n in names if n in values]
        if present:
            directives.append(
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dims)],
                    "Metrics": [{"Name": n, "Unit": UNITS[n]} for n in present],
                }
            )
    meta: dict[str, Any] = {
        "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "CloudWatchMetrics": directives,
    }
    if log_group:
        meta["LogGroupName"] = log_group
        meta["LogStreamName"] = job
    return {
        "_aws": meta,
        "ClusterName": cluster,
        "Job": job,
        "Rank": str(rank),  # a dimension value is a string
        **values,
    }


def _say_once(message: str) -> None:
    print(f"trainer: {message}", file=sys.stderr, flush=True)


class Publisher:
    """Sends a rank's records to the agent over one TCP connection, opened on first use."""

    def __init__(
        self,
        endpoint: str,
        *,
        cluster: str,
        job: str,
        rank: int,
        log_group: str | None = None,
        timeout_s: float = CONNECT_TIMEOUT_S,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = _say_once,
    ):
        self.endpoint = endpoint
        self.address = parse_endpoint(endpoint)
        self.cluster, self.job, self.rank, self.log_group = cluster, job, rank, log_group
        self.timeout_s, self.retry_after_s = timeout_s, retry_after_s
        self._clock, self._say = clock, say
        self._sock: socket.socket | None = None
        self._retry_at = 0.0
        self.failures = 0
        self.sent = 0

    def publish(self, step: int, loss: float, throughput: Mapping[str, float]) -> bool:
        """Send one progress line's figures; False (and nothing raised) when it could not."""
        if self._sock is None and self._clock() < self._retry_at:
            return False
        try:
            doc = record(
                figures(step, loss, throughput),
                cluster=self.cluster,
                job=self.job,
                rank=self.rank,
                log_group=self.log_group,
            )
            line = (json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n").encode()
            if self._sock is None:
                self._sock = socket.create_connection(self.address, timeout=self.timeout_s)
            self._sock.sendall(line)
        except (OSError, ValueError) as err:
            self._failed(err)
            return False
        self.sent += 1
        return True

    def _failed(self, err: Exception) -> None:
        self.close()
        self._retry_at = self._clock() + self.retry_after_s
        self.failures += 1
        if self.failures == 1:
            self._say(
                f"CloudWatch EMF endpoint {self.endpoint} (rank {self.rank}): {err}; the "
                f"figures are not sent, training goes on (retrying every {self.retry_after_s:g} s, "
                "said once)"
            )

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def from_env(rank: int, env: Mapping[str, str] = os.environ) -> Publisher | None:
    """The publisher the stack's environment asks for, or None (no endpoint, or a bad one:
    said once, and the run goes on)."""
    endpoint = env.get(ENV_ENDPOINT)
    if not endpoint:
        return None
    try:
        return Publisher(
            endpoint,
            cluster=env.get(ENV_CLUSTER) or "unknown",
            job=env.get(ENV_JOB) or LOCAL_JOB,
            rank=rank,
            log_group=env.get(ENV_LOG_GROUP) or None,
        )
    except ValueError as err:
        if rank == 0:
            _say_once(f"{err}; the figures are not sent")
        return None
