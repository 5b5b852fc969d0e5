"""The watcher (jobwatch/watcher.py) against a fake API server replaying a PyTorchJob's life
(running, a restart, running, failed with an OOMKilled worker) and a RayJob's (running, an
attempt retried on a new RayCluster, failed), and a moto SNS topic read back through an SQS
subscription: exactly the expected messages, none again after a restart."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from fake_apiserver import FakeApiServer, serve
from kubernetes import config
from moto import mock_aws
from ray_life import CLUSTER_1, CLUSTER_2, FAILED, RAY_LIFE, RETRY, RayLife
from watch_support import CM_PATH, JOB, NS, T_FAILED, UID, JobLife

from jobwatch import incidents
from jobwatch import watcher as watcher_module
from jobwatch.kinds import KINDS
from jobwatch.notify import SnsPublisher
from jobwatch.sent import BASELINE, SentLog
from jobwatch.watcher import Watcher
from trainstack.offline import schemas
from trainstack.offline.schemas import crd

REGION = "us-west-2"
PYTORCH, RAY, TRAINJOB = KINDS


@pytest.fixture
def servers():
    yield from serve(FakeApiServer)


@pytest.fixture
def topic(monkeypatch):
    """(publisher, read): a KMS-encrypted topic with an SQS queue subscribed; `read()` drains
    the queue and returns the (subject, message) of everything published since."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        arn = sns.create_topic(Name="jobs", Attributes={"KmsMasterKeyId": "alias/jobs"})["TopicArn"]
        queue = sqs.create_queue(QueueName="read")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)

        def read() -> list[tuple[str, str]]:
            got = []
            while True:
                batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
                if not batch:
                    return got
                for m in batch:
                    envelope = json.loads(m["Body"])
                    got.append((envelope.get("Subject"), envelope["Message"]))
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

        yield SnsPublisher(arn, sns), read


def watcher(server, tmp_path, publish) -> Watcher:
    """A new watcher process: its own client and memory, the cluster's ConfigMap."""
    from kubernetes import client

    api = config.new_client_from_config(config_file=server.kubeconfig(tmp_path / "kubeconfig"))
    w = Watcher(api, NS, SentLog(client.CoreV1Api(api), NS, "jobwatch-state"), publish)
    w.start()
    return w


def test_a_jobs_life_gives_one_message_per_restart_and_failure_even_across_restarts(
    servers, topic, tmp_path
):
    publish, read = topic
    life = JobLife()
    server = servers(life.answer, life.write)

    first = watcher(server, tmp_path, publish)
    version = first.sync(PYTORCH)
    assert version == "10" and read() == []  # running: nothing to tell
    life.cursor = 1  # the operator restarts the job
    version = first.watch_once(PYTORCH, version, 5)
    assert version == "11"
    [(subject, text)] = read()
    assert subject == f"trainstack: PyTorchJob {NS}/{JOB} restarted (OOM_KILLED)"
    assert "pod llm-worker-2" in text and "OOMKilled" in text
    assert "raise trainstack:trainingJobs.<job>.memory" in text  # the remedy travels along
    # The restart was recorded before the message went out (at most once), keyed on the failed
    # pod (incidents.py), not on the condition's lastTransitionTime.
    assert json.loads(json.dumps(life.configmap["data"]))[UID] == (
        f"PyTorchJob|Restarting#name:{JOB}-worker-2@{int(incidents.epoch(T_FAILED))}"
    )

    # The watcher's pod is replaced mid-stream: the new one lists the job as it is (still
    # restarting) and says nothing, then follows it to its failure.
    second = watcher(server, tmp_path, publish)
    version = second.sync(PYTORCH)
    assert read() == []
    life.cursor = 3
    second.watch_once(PYTORCH, version, 5)
    [(subject, text)] = read()
    assert subject == f"trainstack: PyTorchJob {NS}/{JOB} failed (OOM_KILLED)"
    assert text.startswith(f"PyTorchJob {JOB} in namespace {NS} failed.")
    assert "1. [OOM_KILLED]" in text and "pod llm-worker-2: container pytorch" in text
    # The master's NCCL watchdog timeout is the OOM's consequence, listed after it.
    assert text.index("[OOM_KILLED]") < text.index("[NCCL_TIMEOUT]")

    # Restarted again after the failure, and replaying the whole history: nothing new.
    third = watcher(server, tmp_path, publish)
    third.sync(PYTORCH)
    third.watch_once(PYTORCH, "9", 5)
    assert read() == []


def test_a_rayjobs_retry_and_failure_give_one_message_each_with_the_attempts_own_cause(
    servers, topic, tmp_path
):
    """KubeRay v1.7.0 retries a failed attempt on a new RayCluster (ray_life.py): the retry is
    told once with the first cluster's cause, the failure once with the second's."""
    publish, read = topic
    life = RayLife()
    server = servers(life.answer, life.write)

    first = watcher(server, tmp_path, publish)
    version = first.sync(RAY)
    life.cursor = 1
    version = first.watch_once(RAY, version, 5)
    assert read() == []  # initializing, running: nothing to tell
    life.cursor = RETRY
    version = first.watch_once(RAY, version, 5)
    [(subject, text)] = read()
    assert subject == f"trainstack: RayJob {NS}/{JOB} is retrying (OOM_KILLED)"
    assert "(Retrying 1)" in text  # status.failed: the first failed attempt
    assert f"pod {CLUSTER_1}-gpu-worker-b7r2t: container ray-worker" in text
    assert "raise trainstack:trainingJobs.<job>.memory" in text
    assert life.configmap["data"][UID] == "RayJob|Retrying#1"

    # The watcher's pod is replaced while KubeRay tears the first cluster down and starts the
    # second: the new one lists the job as it is and says nothing.
    second = watcher(server, tmp_path, publish)
    life.cursor = 4
    version = second.sync(RAY)
    assert read() == []
    life.cursor = FAILED
    second.watch_once(RAY, version, 5)
    [(subject, text)] = read()
    assert subject == f"trainstack: RayJob {NS}/{JOB} failed (CUDA_OOM)"
    assert text.startswith(f"RayJob {JOB} in namespace {NS} failed.")
    # The driver's CUDA OOM from the second attempt's submitter log; the first attempt's pods
    # are gone and not blamed, and the submitter's own exit 1 restates the failure.
    assert "1. [CUDA_OOM]" in text and "micro_batch_size" in text
    assert "torch.OutOfMemoryError: CUDA out of memory" in text
    assert CLUSTER_1 not in text and "OOM_KILLED" not in text and "CONTAINER_FAILED" not in text
    assert life.configmap["data"][UID] == "RayJob|Retrying#1 Failed"

    # Restarted again and replaying the whole history, both attempts: nothing new.
    third = watcher(server, tmp_path, publish)
    third.sync(RAY)
    third.watch_once(RAY, "19", 5)
    assert read() == []
    assert CLUSTER_2 in life.life[FAILED]["status"]["rayClusterName"]


def test_the_replayed_rayjob_has_the_fields_of_kuberays_crd():
    """The replay's status fields are the ray.io_rayjobs CRD's (pinned KubeRay), with their
    types: a renamed field would make the watcher's test pass on a shape KubeRay never writes."""
    status = crd.custom_schema(str(schemas.crd_dir()), "ray.io", "v1", "RayJob").schema[
        "properties"
    ]["status"]["properties"]
    for job in RAY_LIFE:
        assert schemas.validate_object(job) == []
        assert set(job["status"]) <= set(status)


def test_an_expired_watch_lists_again_and_sends_nothing_twice(servers, topic, tmp_path):
    publish, read = topic
    life = JobLife()
    life.cursor = 1
    server = servers(life.answer, life.write)
    w = watcher(server, tmp_path, publish)
    life.gone_below = 100  # every watch is too old: 410 Gone, then a fresh list
    w.follow(PYTORCH, threading.Event(), rounds=3)
    assert life.watches == ["11", "11", "11"]  # relisted after each 410, watched from the list
    assert len(read()) == 1  # the restart, once, though the job was listed three times


def test_a_kind_the_cluster_does_not_serve_is_looked_for_quietly(servers, topic, tmp_path, caplog):
    """Kubeflow Trainer is installed only for a stack with a TrainJob: elsewhere trainjobs is a
    404, looked for again every NOT_SERVED_RETRY_S, said once, not warned of every 10 s."""
    publish, _ = topic
    life = JobLife()
    w = watcher(servers(life.answer, life.write), tmp_path, publish)

    class Waits(threading.Event):
        def __init__(self):
            super().__init__()
            self.made: list[float] = []

        def wait(self, timeout=None):
            self.made.append(timeout)
            if len(self.made) == 3:  # whatever the loop counts, three waits end it
                self.set()
            return self.is_set()

    stop = Waits()
    with caplog.at_level("INFO", logger="jobwatch"):
        w.follow(TRAINJOB, stop, rounds=3)
    assert stop.made == [watcher_module.NOT_SERVED_RETRY_S] * 3
    said = [r for r in caplog.records if "not served" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "INFO"


def test_a_failed_publish_is_retried_on_the_next_event(servers, topic, tmp_path):
    publish, read = topic
    life = JobLife()
    life.cursor = 3
    server = servers(life.answer, life.write)
    calls = []

    def flaky(subject, text):
        calls.append(subject)
        if len(calls) == 1:
            raise RuntimeError("SNS throttled")
        publish(subject, text)

    w = watcher(server, tmp_path, flaky)
    with pytest.raises(RuntimeError):
        w.sync(PYTORCH)
    assert UID not in life.configmap["data"]  # the claim was put back
    w.sync(PYTORCH)
    assert [s for s, _ in read()] == [f"trainstack: PyTorchJob {NS}/{JOB} failed (OOM_KILLED)"]


def test_the_first_start_records_existing_jobs_without_messages(servers, topic, tmp_path):
    publish, read = topic
    life = JobLife()
    life.cursor = 3
    del life.configmap["data"][BASELINE]
    server = servers(life.answer, life.write)
    w = watcher(server, tmp_path, publish)
    w.sync(PYTORCH)
    assert read() == [] and life.configmap["data"][UID] == "PyTorchJob|Failed"
    watcher(server, tmp_path, publish).sync(PYTORCH)
    assert read() == []
    assert any(m == "PUT" and p == CM_PATH for m, p, _ in server.writes)
