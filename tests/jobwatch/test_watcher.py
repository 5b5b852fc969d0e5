"""The watcher (jobwatch/watcher.py) against a fake API server replaying a PyTorchJob's life
(running, a restart, running, failed with an OOMKilled worker) and a moto SNS topic read back
through an SQS subscription: exactly the expected messages, none again after a restart."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from fake_apiserver import FakeApiServer, serve
from kubernetes import config
from moto import mock_aws
from watch_support import CM_PATH, JOB, LIFE, NS, UID, JobLife

from jobwatch.kinds import KINDS
from jobwatch.notify import SnsPublisher
from jobwatch.sent import BASELINE, SentLog
from jobwatch.watcher import Watcher

REGION = "us-west-2"
PYTORCH = KINDS[0]


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
    # The restart was recorded before the message went out (at most once).
    assert (
        json.loads(json.dumps(life.configmap["data"]))[UID]
        == "PyTorchJob|Restarting#" + (LIFE[1]["status"]["conditions"][2]["lastTransitionTime"])
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
