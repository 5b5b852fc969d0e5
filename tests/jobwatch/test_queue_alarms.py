"""The watcher's queue alarms (jobwatch/queue_alarms.py, polled by alarms.py) against the fake API
server with recorded Kueue v0.19.2 Workload, LocalQueue and ClusterQueue objects
(tests/kueue_records.py, shaped as kubernetes-sigs/kueue v0.19.2 apis/kueue/v1beta2/
workload_types.go, localqueue_types.go, clusterqueue_types.go): a preempted job is told once,
naming its preemptor and what happens next, an admitted one is not; a job pending past
notifications.alarms.queueWaitMinutes is told once with Kueue's reason and the remedy, one under
it is not."""

from __future__ import annotations

import copy
import json

import kueue_records as rec
import pytest
from fake_apiserver import JSON, FakeApiServer, serve
from kubernetes import config
from test_alarms_watcher import RecordingSns
from watch_support import CREATED, JOB, NS, UID, JobLife, condition, job

from jobwatch.alarms import Alarms, Settings
from jobwatch.incidents import epoch
from jobwatch.notify import SnsPublisher
from jobwatch.progress import HungRule
from jobwatch.sent import SentLog
from jobwatch.watcher import Watcher

# The job Kueue suspended while it waits (training-operator's Suspended condition).
SUSPENDED = job(10, [CREATED, condition("Suspended", "True", rec.T_ADMIT)])
MASTER_LOG = (
    "trainer: checkpoint /checkpoints/llm/checkpoints/step_00000200\n"
    "trainer: SIGTERM: saved step 230; exiting so a restart resumes here\n"
)


def of_watched_job(wl: dict) -> dict:
    """A recorded Workload as the watched job's (JobLife's PyTorchJob `llm`)."""
    wl = copy.deepcopy(wl)
    wl["metadata"]["labels"]["kueue.x-k8s.io/job-uid"] = UID
    wl["metadata"]["ownerReferences"][0].update(name=JOB, uid=UID)
    return wl


class QueuedJob(JobLife):
    """The suspended job, its Workload (and `others` in the namespace), its LocalQueue and
    ClusterQueue; rank 0's log from before it was stopped."""

    life = [SUSPENDED]

    def __init__(self, workload: dict, others: list[dict] = ()):
        super().__init__()
        self.workloads = [of_watched_job(workload), *others]

    def answer(self, path: str, query: dict):
        bodies = {
            f"{rec.API}/namespaces/{NS}/workloads": rec.listing("Workload", self.workloads),
            f"{rec.API}/namespaces/{NS}/localqueues/{rec.LQ}": rec.LOCAL_QUEUE,
            f"{rec.API}/clusterqueues/{rec.CQ}": rec.CLUSTER_QUEUE,
        }
        if path in bodies:
            return 200, json.dumps(bodies[path]).encode(), JSON
        return super().answer(path, query)

    def log(self, pod: str, query: dict) -> str | None:
        return MASTER_LOG if pod == f"{JOB}-master-0" else None


@pytest.fixture
def watched(tmp_path):
    """start(workload, others, minutes after T0, queueWaitMinutes) -> (life, alarms, sns)."""
    from kubernetes import client

    servers = serve(FakeApiServer)
    make = next(servers)

    def start(workload, others=(), minutes=0.0, wait_minutes=60.0):
        life, sns = QueuedJob(workload, list(others)), RecordingSns()
        srv = make(life.answer, life.write)
        api = config.new_client_from_config(config_file=srv.kubeconfig(tmp_path / "kubeconfig"))
        sent = SentLog(client.CoreV1Api(api), NS, "jobwatch-state")
        w = Watcher(api, NS, sent, SnsPublisher("arn:aws:sns:us-west-2:123456789012:jobs", sns))
        settings = Settings(hung=HungRule(), queue_wait_s=wait_minutes * 60)
        now = epoch(rec.T0) + minutes * 60
        return life, Alarms(w, settings, lambda: now), sns

    yield start
    next(servers, None)


def test_a_preemption_is_told_once_naming_the_preemptor_and_what_happens_next(watched):
    life, alarms, sns = watched(rec.PREEMPTED, others=[rec.ADMITTED], minutes=15)
    assert alarms.poll() == 1
    (msg,) = sns.published
    assert msg["Subject"] == f"trainstack: PyTorchJob {NS}/{JOB} was preempted"
    text = msg["Message"]
    assert text.startswith(f"PyTorchJob {JOB} in namespace {NS} was preempted.")
    # The preemptor's Workload is in the namespace: its job and priority are named.
    assert (
        f"Kueue evicted its Workload pytorchjob-finetune-3f2a1 to make room for PyTorchJob "
        f"{NS}/release (priority release) (prioritization in the ClusterQueue); preemption #1 "
        f"of this job. Preemptor's queue /trainstack/{rec.CQ}, this job's /trainstack/{rec.CQ}."
    ) in text
    assert f"Kueue says: {rec.PREEMPTED_MESSAGE}" in text
    assert (
        "Next: Kueue suspended the job, which stops its pods, and requeued it: it starts again "
        "when its ClusterQueue has the quota, and then the trainer resumes from step 230 or "
        "later"
    ) in text
    assert f"trainingJobs.{JOB}.priority" in text  # the remedy names the key
    assert life.configmap["data"][UID] == "PyTorchJob|Preempted#1"
    assert alarms.poll() == 0 and len(sns.published) == 1  # the same preemption: not again


def test_a_job_admitted_normally_raises_nothing(watched):
    life, alarms, sns = watched(rec.ADMITTED, minutes=600)
    assert alarms.poll() == 0
    assert sns.published == [] and UID not in life.configmap["data"]


def test_a_preemption_the_poll_missed_is_still_told_after_readmission(watched):
    """Readmitted before the poll saw it: Evicted and Preempted are False with "Previously: "
    (workload.go resetActiveCondition), the eviction count stays."""
    life, alarms, sns = watched(rec.readmitted(rec.PREEMPTED), minutes=45)
    assert alarms.poll() == 1
    text = sns.published[0]["Message"]
    assert f"Kueue says: {rec.PREEMPTED_MESSAGE}" in text  # without the "Previously: "
    assert f"it has since been admitted again in ClusterQueue {rec.CQ}" in text


@pytest.mark.parametrize("minutes, told", [(59, 0), (75, 1)])
def test_a_job_pending_past_the_threshold_is_told_with_kueues_reason(watched, minutes, told):
    life, alarms, sns = watched(rec.PENDING, minutes=minutes, wait_minutes=60)
    assert alarms.poll() == told
    if not told:
        assert sns.published == []
        return
    (msg,) = sns.published
    assert msg["Subject"] == f"trainstack: PyTorchJob {NS}/{JOB} is still waiting in its queue"
    text = msg["Message"]
    assert (
        f"It has waited 75 min for admission in LocalQueue {rec.LQ} (ClusterQueue {rec.CQ}) "
        f"since {rec.T0} (alarm at 60 min)."
    ) in text
    assert f"Kueue says: Pending: {rec.SHORT}" in text
    # Only the quota the message names, from the ClusterQueue's spec and status.
    assert (
        f"ClusterQueue {rec.CQ}, flavor {rec.FLAVOR}: {rec.GPU} 8 in use of nominal 8, may "
        "borrow 4."
    ) in text
    assert " cpu " not in text
    remedy = text[text.index("Remedy: ") :]
    assert f"trainingJobs.{JOB}.priority" in remedy and "`queues`" in remedy
    assert "karpenter.nodePools.<pool>.maxGpus or nodeGroups.<pool>.maxSize" in remedy
    assert life.configmap["data"][UID] == f"PyTorchJob|QueueWait#{int(epoch(rec.T0))}"
    assert alarms.poll() == 0  # the same wait: told once


def test_a_held_job_is_not_waiting(watched):
    """An admission gate is a person's hold, not a queue that is too slow."""
    life, alarms, sns = watched(rec.HELD, minutes=600)
    assert alarms.poll() == 0 and sns.published == []


def test_the_threshold_comes_from_the_environment():
    assert Settings.from_env({"JOBWATCH_QUEUE_WAIT_S": "1800"}).queue_wait_s == 1800
    with pytest.raises(ValueError, match="JOBWATCH_QUEUE_WAIT_S='soon'"):
        Settings.from_env({"JOBWATCH_QUEUE_WAIT_S": "soon"})
