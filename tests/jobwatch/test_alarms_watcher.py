"""The watcher's alarms (jobwatch/alarms.py) against the fake API server replaying a running
PyTorchJob (watch_support.JobLife): rank 0's log read with timestamps, the message each alarm
publishes through the watcher's SNS path, and once per incident."""

from __future__ import annotations

import copy

import pytest
from fake_apiserver import FakeApiServer, serve
from kubernetes import config
from test_alarm_rules import LAST, RECORDED, T0
from watch_support import JOB, NS, UID, JobLife, pod

from jobwatch.alarms import HUNG_FACTOR_ANNOTATION, Alarms, Settings
from jobwatch.incidents import failed_pod
from jobwatch.notify import SnsPublisher
from jobwatch.progress import HungRule
from jobwatch.sent import SentLog
from jobwatch.watcher import Watcher


class RecordingSns:
    """boto3's SNS client as SnsPublisher calls it: what was published."""

    def __init__(self):
        self.published: list[dict] = []

    def publish(self, **kwargs) -> None:
        self.published.append(kwargs)


class RunningJob(JobLife):
    """The job running (LIFE[0]) with rank 0's log as recorded; the query is kept."""

    queries: list[dict]

    def log(self, pod: str, query: dict) -> str | None:
        self.queries.append(query)
        return "\n".join(RECORDED) if pod == f"{JOB}-master-0" else None


@pytest.fixture
def running(tmp_path):
    from kubernetes import client

    life = RunningJob()
    life.queries = []
    sns = RecordingSns()
    for server in serve(FakeApiServer):
        srv = server(life.answer, life.write)
        api = config.new_client_from_config(config_file=srv.kubeconfig(tmp_path / "kubeconfig"))
        sent = SentLog(client.CoreV1Api(api), NS, "jobwatch-state")
        w = Watcher(api, NS, sent, SnsPublisher("arn:aws:sns:us-west-2:123456789012:jobs", sns))
        yield life, w, sns


def test_a_hung_job_is_told_once_naming_the_job_its_last_step_and_the_remedy(running):
    life, w, sns = running
    alarms = Alarms(w, Settings(hung=HungRule(factor=10, floor_s=600)), lambda: T0 + LAST + 1200)
    assert alarms.poll() == 1
    assert life.queries[0]["timestamps"][0].lower() == "true"  # the client sends "True"
    (msg,) = sns.published
    assert msg["Subject"] == f"trainstack: PyTorchJob {NS}/{JOB} is hung: no step progress"
    text = msg["Message"]
    assert text.startswith(f"PyTorchJob {JOB} in namespace {NS} is hung: no step progress.")
    assert "No step progress for 20 min: rank 0 printed step 300 last" in text
    assert "took 2 s each (a progress line every 20 s)" in text
    assert "here 16 min" in text  # twice the 8-minute checkpoint save in the log
    assert "Remedy: a rank most likely waits in a collective" in text
    assert f"trainstack logs {JOB} -n {NS}" in text
    assert "notifications.alarms.hungFactor" in text
    assert life.configmap["data"][UID] == "PyTorchJob|Hung#300"
    assert alarms.poll() == 0 and len(sns.published) == 1  # the same hang: not again


def test_a_job_with_its_own_hung_factor_is_judged_by_it(running):
    life, w, sns = running
    annotated = copy.deepcopy(life.life[0])  # trainingJobs.llm.hungFactor: 100, as rendered
    annotated["metadata"]["annotations"] = {HUNG_FACTOR_ANNOTATION: "100"}
    life.life = [annotated]
    stack = Settings(hung=HungRule(factor=10, floor_s=600))
    # 20 min quiet: hung by the stack's factor (the first test), not by the job's 100 x 20 s.
    assert Alarms(w, stack, lambda: T0 + LAST + 1200).poll() == 0
    assert Alarms(w, stack, lambda: T0 + LAST + 2100).poll() == 1  # past 2000 s
    text = sns.published[0]["Message"]
    assert "No step progress for 35 min" in text
    assert "no trainer output for 100 x that" in text and "here 33 min" in text
    assert f"raise its own trainingJobs.{JOB}.hungFactor" in text


def test_a_job_that_still_makes_progress_raises_nothing(running):
    _, w, sns = running
    assert Alarms(w, Settings(), lambda: T0 + LAST + 60).poll() == 0
    assert sns.published == []


def test_a_restart_loop_is_told_once_with_the_newest_failures_cause(running):
    life, w, sns = running
    for minute in (0, 10, 21):  # worker-2 OOM-killed three times in 21 minutes
        when = f"2026-11-25T10:{minute:02d}:00Z"
        oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": when}
        failed = failed_pod(pod("Worker", 2, oom), "pytorch")
        failed.uid = f"uid-{minute}"
        w.restarts.failures.setdefault(UID, []).append(failed)
    t_last = failed.at
    alarms = Alarms(w, Settings(), lambda: t_last + 30)
    assert alarms.check_loop(alarms.w.kinds[0], life.life[0])
    (msg,) = sns.published
    assert msg["Subject"] == (
        f"trainstack: PyTorchJob {NS}/{JOB} is restarting in a loop (OOM_KILLED)"
    )
    text = msg["Message"]
    assert "3 restarts within 60 min (alarm at 3)" in text
    assert "suspend the job meanwhile (trainingJobs.<job>.suspend = true" in text
    assert f"Newest: pod {JOB}-worker-2 (node unknown) exited with code 137 (OOMKilled)" in text
    assert "OOM_KILLED" in text
    assert not alarms.check_loop(alarms.w.kinds[0], life.life[0])  # told once
    assert len(sns.published) == 1
