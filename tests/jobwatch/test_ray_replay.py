"""The watcher against KubeRay's real order when a RayJob's head or worker pod fails
(kuberay_replay.py, kuberay v1.7.0 ray-operator/controllers/ray/raycluster_controller.go
reconcilePods, shouldDeletePod): the failed pod is deleted and replaced by a pod of another name
(restartPolicy Never) or its container restarted in the same pod (Always), and the RayJob's
status stays Running throughout. Exactly one message per incident, naming the first failed pod,
its node and its own cause; none for the pods of a cluster torn down when the job ends."""

from __future__ import annotations

from kuberay_replay import CLUSTER, KubeRayReplay
from operator_replay import stamp
from test_watch_replay import Streams
from test_watcher import servers, topic  # noqa: F401 (fixtures)
from watch_support import JOB, NS, UID

from jobwatch import rayjob
from jobwatch.kinds import KINDS
from trainstack.offline import schemas

RAY = KINDS[1]
RESTARTED = f"trainstack: RayJob {NS}/{JOB} restarted"
CUDA_OOM_LOG = (
    "(RayTrainWorker pid=412) step 310 loss 2.02\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 22.06 GiB of which 1.12 GiB is free.\n"
)
PEER_LOG = (
    "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n"
)


def workers(c: KubeRayReplay) -> list[str]:
    return sorted(n for n in c.pods if "-worker-" in n)


def test_kuberay_replacing_a_failed_worker_then_the_head_gives_one_message_per_incident(
    servers,  # noqa: F811
    topic,  # noqa: F811
    tmp_path,
):
    publish, read = topic
    c = KubeRayReplay("Never")
    server = servers(c.answer, c.write)
    first = Streams(server, tmp_path, publish, RAY)
    assert read() == []  # running
    w1, w2 = workers(c)
    [head] = [n for n in c.pods if "-head-" in n]

    # Incident 1, minute 20: w1's training process runs out of GPU memory on node-b and the
    # container exits 1. The watcher sees the pod Failed while it exists and reads its log;
    # KubeRay deletes it and creates another worker on node-e. The RayJob stays Running.
    c.container_exits(w1, 1, 20, log=CUDA_OOM_LOG)
    first.catch_up()
    w3 = c.kuberay_reconciles(w1, 20.1, "node-e")
    first.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (CUDA_OOM)"
    assert f"Failed: pod {w1} on node node-b exited with code 1" in text
    assert "1. [CUDA_OOM]" in text and "node-e" not in text and w3 not in text
    assert c.job["status"]["jobDeploymentStatus"] == "Running" and c.job["status"]["failed"] == 0

    # Minute 22: w2's Ray Train worker dies with its peer's actor and is replaced too: the same
    # incident, nothing more.
    c.container_exits(w2, 1, 22, log=PEER_LOG)
    c.kuberay_reconciles(w2, 22.1, "node-f")
    first.catch_up()
    assert read() == []

    # Incident 2, minute 80: the head is killed for host memory on node-a and KubeRay replaces
    # it before the watcher reads anything (the DELETED event still carries its status); the
    # workers lose the GCS and exit, and are replaced in turn. One message, naming the head.
    c.container_exits(head, 137, 80, reason="OOMKilled")
    new_head = c.kuberay_reconciles(head, 80.1, "node-g")
    for n, node in zip(workers(c), ("node-h", "node-i"), strict=True):
        c.container_exits(n, 1, 80.5)
        c.kuberay_reconciles(n, 80.6, node)
    first.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (OOM_KILLED)"
    assert f"Failed: pod {head} on node node-a exited with code 137 (OOMKilled)" in text
    assert new_head not in text and "node-g" not in text

    # The watcher's pod is replaced: the new one lists the RayJob and the pods, says nothing.
    Streams(server, tmp_path, publish, RAY)
    assert read() == []

    # Incident 3, minute 140, while no watcher runs: a worker on node-h is killed for host
    # memory and replaced. The next watcher rebuilds it from KubeRay's DeletedWorkerPod event
    # and the scheduler's Scheduled event; the older events are recognised as told.
    [w5, _] = workers(c)
    c.container_exits(w5, 137, 140, reason="OOMKilled")
    c.kuberay_reconciles(w5, 140.1, "node-j")
    third = Streams(server, tmp_path, publish, RAY)
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (OOM_KILLED)"
    assert f"Failed: pod {w5} on node node-h exited with code 137 (OOMKilled)" in text
    assert "already deleted" in text and "container ray-worker" in text

    # Minute 200: the driver fails; KubeRay sets Failed, then deletes the cluster, whose pods
    # end with 143 on the deletion's SIGTERM. The job's failure is told; no restart for those.
    c.status("Failed", "FAILED", "Job entrypoint command failed with exit code 1", 200)
    c.cluster_deleted(200)
    third.catch_up()
    [(subject, text)] = read()
    assert subject.startswith(f"trainstack: RayJob {NS}/{JOB} failed")
    # The worker killed an hour before, which the job went on from, is not named as its end.
    assert "OOM_KILLED" not in subject and w5 not in text
    keys = c.configmap["data"][UID].partition("|")[2].split()
    assert [k.split("#")[0] for k in keys] == ["Restarting"] * 3 + ["Failed"]


def test_a_ray_worker_container_restarted_in_place_is_one_incident_per_failure(
    servers,  # noqa: F811
    topic,  # noqa: F811
    tmp_path,
):
    """restartPolicy Always (our RayJobs' pods): KubeRay keeps the pod and the kubelet starts
    the container again; the same pod failing an hour later is a new incident."""
    publish, read = topic
    c = KubeRayReplay("Always")
    server = servers(c.answer, c.write)
    first = Streams(server, tmp_path, publish, RAY)
    w1, w2 = workers(c)

    c.container_exits(w1, 137, 20, reason="OOMKilled", log="(raylet) step 400\n")
    first.catch_up()
    c.container_exits(w2, 1, 24, log=PEER_LOG)  # its peer, in the same incident
    first.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (OOM_KILLED)"
    assert f"Failed: pod {w1} on node node-b exited with code 137 (OOMKilled)" in text
    assert "restarted its container in the same pod" in text
    assert set(c.pods) >= {w1, w2}  # KubeRay deleted nothing

    # A restarted watcher sees both containers' last states again: already told.
    second = Streams(server, tmp_path, publish, RAY)
    assert read() == []

    # Minute 90: the same pod's container is killed again: a new incident, told once.
    c.container_exits(w1, 137, 90, reason="OOMKilled")
    second.catch_up()
    first.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (OOM_KILLED)" and f"pod {w1} on node node-b" in text
    assert "at 2026-11-25T10:30:00Z" in text
    # Each incident is keyed on the pod and when its container ended: one pod, two incidents.
    keys = c.configmap["data"][UID].partition("|")[2].split()
    uid = c.pods[w1]["metadata"]["uid"]
    assert [k.split("#")[1].split("~")[0] for k in keys] == [uid, uid]


def test_kuberays_deleted_pod_events_and_the_replayed_rayjob_are_read():
    """The DeletedWorkerPod / DeletedHeadPod messages of kuberay v1.7.0 raycluster_controller.go
    (`Ray container terminated status: %v`, `nil` for a pod that failed without its container
    ending), and the replay's RayJob is one the pinned ray.io_rayjobs CRD admits."""
    job = {"metadata": {"name": JOB}, "status": {"rayClusterName": CLUSTER}}

    def event(reason: str, message: str, about: str = CLUSTER) -> dict:
        return {"reason": reason, "message": message,
                "involvedObject": {"kind": "RayCluster", "name": about}}  # fmt: skip

    pod, tail = f"{CLUSTER}-gpu-worker-ab1cd", "Pod restart policy: Always; Ray container"
    oom = (f"Deleted worker Pod {NS}/{pod}; Pod status: Failed; {tail} terminated status: "
           "&ContainerStateTerminated{ExitCode:137,Signal:0,Reason:OOMKilled,Message:,}")  # fmt: skip
    evicted = f"Deleted head Pod {NS}/{CLUSTER}-head-x1y2z; Pod status: Failed; {tail} terminated status: nil"  # fmt: skip
    assert rayjob.deleted(job, NS, event("DeletedWorkerPod", oom)) == (pod, 137, "OOMKilled")
    assert rayjob.deleted(job, NS, event("DeletedHeadPod", evicted)) == (
        f"{CLUSTER}-head-x1y2z",
        None,
        "Failed",
    )
    # Another cluster's (an earlier attempt's), another namespace's, a scale-down's: not read.
    assert rayjob.deleted(job, NS, event("DeletedWorkerPod", oom, "llm-q9m4d")) is None
    assert rayjob.deleted(job, "other", event("DeletedWorkerPod", oom)) is None
    assert rayjob.deleted(job, NS, event("DeletedWorkerPod", f"Deleted pod {NS}/{pod}")) is None

    c = KubeRayReplay("Never")
    w = next(p for p in c.pods.values() if "-worker-" in p["metadata"]["name"])
    assert rayjob.job_of_pod(w) == JOB and rayjob.runs_on(c.job, w)
    c.status("Failed", "FAILED", "Job entrypoint command failed with exit code 1", 200)
    assert not rayjob.runs_on(c.job, w)  # its cluster is torn down: its pods end, not fail
    assert schemas.validate_object(c.job) == [] and rayjob.ended_at(c.job) == stamp(200)
