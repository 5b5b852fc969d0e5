"""`framework: trainjob`: a TrainingRuntime holding the PyTorchJob's pod and the TrainJob running
it (components/trainjob.py), valid against the pinned Trainer v2.2.1 CRDs and their CEL rules;
the exit-code policy drawn on the PyTorchJob's line; and what config refuses, naming the key.
The command's run is tests/components/test_training_job.py's (the TrainJob's command, with the
PET_* the Trainer injects)."""

from __future__ import annotations

import copy

import pytest
from job_support import errors, job, rendered, rendered_trainjob, runtime_pod, stack

from components import config, trainjob
from jobwatch import trainjob as watched
from trainstack.offline import schemas


@pytest.mark.usefixtures("pinned_crds")
@pytest.mark.parametrize(
    "fields",
    [{}, {"nodePool": "gpu-g5", "nodes": 2, "hfToken": True, "activeDeadlineSeconds": 3600}],
)
def test_the_runtime_and_the_trainjob_validate_against_the_pinned_crds(fields):
    secrets = {"hfToken": "hf_test"} if fields.get("hfToken") else None
    for obj in rendered_trainjob(secrets=secrets, **fields):
        assert schemas.validate_object(obj, "1.34") == [], obj["kind"]


@pytest.mark.usefixtures("pinned_crds")
def test_the_crds_cel_rules_refuse_what_config_refuses_first():
    runtime, train = rendered_trainjob()
    bad = copy.deepcopy(train)
    bad["metadata"]["name"] = "1j"  # the TrainJob CRD's RFC 1035 rule on metadata.name
    assert any("RFC 1035" in e for e in schemas.validate_object(bad, "1.34"))
    assert any("RFC 1035" in e for e in errors(trainingJobs={"1j": job(framework="trainjob")}))
    two = copy.deepcopy(runtime)  # at most one of the ML policies (MLPolicy's CEL rule)
    two["spec"]["mlPolicy"]["mpi"] = {}
    assert schemas.validate_object(two, "1.34")


def test_the_runtimes_pod_is_the_pytorchjobs_in_the_container_the_trainer_requires():
    """Built by the same builders: only what the kind decides differs (the container's name and
    port, its command's rank layout, PYTHONUNBUFFERED, the role label, restartPolicy)."""
    runtime, _ = rendered_trainjob(nodes=2, hfToken=True, secrets={"hfToken": "x"})
    node = copy.deepcopy(runtime_pod(runtime))
    ptj = rendered(nodes=2, hfToken=True, secrets={"hfToken": "x"})
    master = copy.deepcopy(ptj["spec"]["pytorchReplicaSpecs"]["Master"]["template"])
    for pod, name in ((node, "node"), (master, "pytorch")):
        c = pod["spec"]["containers"][0]
        assert c.pop("name") == name
        c.pop("command"), c.pop("ports")
        c["env"] = [e for e in c["env"] if e["name"] != "PYTHONUNBUFFERED"]
        pod["metadata"]["labels"].pop("trainstack.io/role")
    assert node["spec"].pop("restartPolicy") == "Never"  # the Job's podFailurePolicy needs it
    assert node == master


def test_the_trainjob_names_its_runtime_sizes_it_and_nothing_else():
    runtime, train = rendered_trainjob(nodes=4, gpusPerNode=1, activeDeadlineSeconds=600)
    assert runtime["metadata"]["namespace"] == train["metadata"]["namespace"] == "training"
    assert runtime["metadata"]["labels"][trainjob.FRAMEWORK_LABEL] == "torch"
    assert train["spec"] == {
        "runtimeRef": {
            "name": runtime["metadata"]["name"],
            "apiGroup": "trainer.kubeflow.org",
            "kind": "TrainingRuntime",
        },
        "trainer": {"numNodes": 4, "numProcPerNode": 1},
        "suspend": True,
        "activeDeadlineSeconds": 600,
    }
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    assert node["template"]["metadata"]["labels"] == {trainjob.ANCESTOR_LABEL: "trainer"}
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 4, "torch": {}}
    assert runtime["spec"]["template"]["spec"]["ttlSecondsAfterFinished"] == 86400


def test_a_new_pod_is_a_new_runtime_and_so_a_new_trainjob():
    """The Trainer never rebuilds a running JobSet from a changed runtime: the digest in the
    runtime's name makes the TrainJob's runtimeRef, and so the TrainJob, change with it."""
    base, _ = rendered_trainjob()
    assert base["metadata"]["name"].startswith("j-") and len(base["metadata"]["name"]) == 12
    assert rendered_trainjob()[0]["metadata"]["name"] == base["metadata"]["name"]
    for change in ({"nodes": 1}, {"env": {"MY_FLAG": "1"}}, {"backoffLimit": 5}):
        runtime, train = rendered_trainjob(**change)
        assert runtime["metadata"]["name"] != base["metadata"]["name"], change
        assert train["spec"]["runtimeRef"]["name"] == runtime["metadata"]["name"]


def test_the_exit_code_policy_is_the_pytorchjobs():
    """1-127 fail the job at once (FailJob), 128-255 recreate the pod, as restartPolicy ExitCode
    does for a PyTorchJob; the watcher's `retried` reads the same table."""
    runtime, _ = rendered_trainjob()
    job_spec = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]
    fail, ignore = job_spec["podFailurePolicy"]["rules"]
    assert fail["action"] == "FailJob" and fail["onExitCodes"]["containerName"] == "node"
    assert fail["onExitCodes"]["values"] == list(range(1, 128))
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert job_spec["backoffLimit"] == 2**31 - 1  # trainer.launch counts (crash_loop.py)
    assert job_spec["completionMode"] == "Indexed"
    ptj = rendered()
    assert ptj["spec"]["pytorchReplicaSpecs"]["Master"]["restartPolicy"] == "ExitCode"
    for code in (1, 2, 5, 127):
        assert not watched.retried({}, {}, code)
    for code in (128, 137, 143, 200, 201):
        assert watched.retried({}, {}, code)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"nodes": None, "minNodes": 1, "maxNodes": 2},
            "framework = 'trainjob': elastic minNodes/maxNodes are for framework: pytorch",
        ),
        ({"cleanPodPolicy": "All"}, "cleanPodPolicy = 'All': a TrainJob's JobSet deletes"),
        ({"env": {"PET_NNODES": "2"}}, "set by Kubeflow Trainer on the trainer container"),
        ({"env": {"PYTHONUNBUFFERED": "0"}}, "set by the stack as the training operator does"),
        ({"entrypoint": "python x.py"}, "a PyTorchJob or TrainJob runs command"),
        (
            {"command": ["train.py", "--nproc-per-node=2"]},
            "is torchrun's --nproc-per-node, which the job sets",
        ),
    ],
)
def test_config_refuses_what_a_trainjob_cannot_do_naming_the_key(fields, expected):
    found = errors(trainingJobs={"tj": job(framework="trainjob", **fields)})
    assert any(expected in e and "trainingJobs.tj" in e for e in found), found


def test_the_trainer_is_installed_only_where_used_and_only_at_22():
    with_job = config.parse(stack(trainingJobs={"tj": job(framework="trainjob")}))
    assert with_job.kubeflow_trainer_installed
    assert not config.parse(stack(trainingJobs={"pt": job()})).kubeflow_trainer_installed
    asked = config.parse(stack(addons={"kubeflowTrainer": {"enabled": True}}))
    assert asked.kubeflow_trainer_installed
    off = errors(
        trainingJobs={"tj": job(framework="trainjob")},
        addons={"kubeflowTrainer": {"enabled": False}},
    )
    assert off == [
        "trainstack:trainingJobs.tj.framework = 'trainjob': needs addons.kubeflowTrainer, "
        "which is disabled"
    ]
    newer = errors(
        trainingJobs={"tj": job(framework="trainjob")},
        addons={"kubeflowTrainer": {"version": "2.3.0"}},
    )
    assert len(newer) == 1 and newer[0].startswith(
        "trainstack:addons.kubeflowTrainer.version = '2.3.0': "
    )
    # Not installed, its version is not the stack's concern.
    assert config.parse(stack(addons={"kubeflowTrainer": {"version": "2.3.0"}}))


def test_netcheck_runs_in_a_trainjob_too():
    runtime, _ = rendered_trainjob(netcheck=True)
    command = runtime_pod(runtime)["spec"]["containers"][0]["command"]
    script = command.index("--max-restarts=3") + 1
    assert command[script : script + 2] == ["-m", "trainer.netcheck"]
