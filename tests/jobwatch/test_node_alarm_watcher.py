"""The watcher on a job whose node fails, against the fake API server (watch_support.JobLife):
the GPU-fault alarm read from the Node objects and node events (jobwatch/alarms.py), told once,
and a restart incident whose cause is the node's condition (restarts.py and the classifier)."""

from __future__ import annotations

import json

import pytest
from fake_apiserver import JSON, FakeApiServer, serve
from kubernetes import config
from node_records import NODE, XID79, node
from test_alarms_watcher import RecordingSns, RunningJob
from watch_support import JOB, NS, UID

from jobwatch.alarms import Alarms, Settings
from jobwatch.notify import SnsPublisher
from jobwatch.sent import SentLog
from jobwatch.watcher import Watcher


class FailingNode(RunningJob):
    """The running job with every pod on NODE, whose GPU raised XID 79; node events too."""

    def pods(self, query: dict) -> list[dict]:
        found = super().pods(query)
        for p in found:
            p["spec"]["nodeName"] = NODE
        return found

    def answer(self, path: str, query: dict):
        self.asked.append(path)
        if path == f"/api/v1/nodes/{NODE}":
            return 200, json.dumps(node(NODE, XID79)).encode(), JSON
        if path == "/api/v1/namespaces/default/events":
            return 200, json.dumps({"items": []}).encode(), JSON
        return super().answer(path, query)


@pytest.fixture
def failing(tmp_path):
    from kubernetes import client

    life = FailingNode()
    life.queries, life.asked = [], []
    sns = RecordingSns()
    for server in serve(FakeApiServer):
        srv = server(life.answer, life.write)
        api = config.new_client_from_config(config_file=srv.kubeconfig(tmp_path / "kubeconfig"))
        sent = SentLog(client.CoreV1Api(api), NS, "jobwatch-state")
        w = Watcher(api, NS, sent, SnsPublisher("arn:aws:sns:us-west-2:123456789012:jobs", sns))
        yield life, w, sns


def test_a_gpu_fault_on_the_jobs_node_is_told_once_with_node_job_and_remedy(failing):
    life, w, sns = failing
    alarms = Alarms(w, Settings(), lambda: 0.0)
    kind, job = w.kinds[0], life.life[0]
    assert alarms.check_nodes(kind, job) == 1
    (msg,) = sns.published
    assert msg["Subject"] == f"trainstack: PyTorchJob {NS}/{JOB} runs on a node with a GPU fault"
    text = msg["Message"]
    assert f"Node {NODE}, which runs {JOB}-master-0, {JOB}-worker-0" in text
    assert "XID 79" in text and "the node is being repaired" in text
    assert "resumes from its checkpoint of step 200" in text  # rank 0's log names it
    assert life.configmap["data"][UID].startswith(f"PyTorchJob|NodeFault#{NODE}/NvidiaXID79Error@")
    assert alarms.check_nodes(kind, job) == 0 and len(sns.published) == 1  # told once
    # The node's events are read once per poll, cluster-scoped reads through the ClusterRole.
    assert life.asked.count("/api/v1/namespaces/default/events") == 2


def test_a_restart_names_the_nodes_condition_as_its_cause(failing):
    life, w, sns = failing
    # The job restarts: worker-2 was killed (137) on the node that lost its GPU.
    life.cursor = 1
    assert w.handle(w.kinds[0], life.life[1])
    (msg,) = sns.published
    assert "(NODE_UNHEALTHY)" in msg["Subject"]
    text = msg["Message"]
    assert f"ran on node {NODE}, which reports AcceleratedHardwareReady False" in text
    assert "NvidiaXID79Error" in text
