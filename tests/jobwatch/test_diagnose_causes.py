"""`jobwatch.diagnose.classify`: realistic pod states, events and log tails -> cause codes
(every rule module of jobwatch/diagnose/ through the cases of diagnose_cases.py)."""

import pytest
from diagnose_cases import CASES, HEALTHY
from diagnose_support import (
    CUDA_OOM_LOG,
    EFA_HEALTHY_LOG,
    EFA_SOCKET_LOG,
    HF_401_LOG,
    NCCL_TIMEOUT_LOG,
    NO_GPU,
    OFI_FAILED_LOG,
    RDZV_LOG,
    SHM_LOG,
    crashed,
    pod,
    waiting,
)

from jobwatch import diagnose
from jobwatch.diagnose import CODES, classify, format_causes
from jobwatch.diagnose.containers import NODE_CHECK_EXIT, PERMANENT_EXITS
from trainer import exit_codes


@pytest.mark.parametrize("case_id, pods, events, log, expected", CASES, ids=[c[0] for c in CASES])
def test_known_failures_are_classified(case_id, pods, events, log, expected):
    causes = classify(pods, events, log)
    assert [c.code for c in causes] == expected
    for c in causes:
        assert c.summary and c.remedy and c.evidence


@pytest.mark.parametrize("case_id, pods, events, log", HEALTHY, ids=[c[0] for c in HEALTHY])
def test_healthy_inputs_give_no_cause(case_id, pods, events, log):
    assert classify(pods, events, log) == []


def test_every_code_has_a_case():
    assert {code for *_, expected in CASES for code in expected} == set(CODES)


def test_efa_expectation_can_be_given_when_only_the_log_is_known():
    assert [c.code for c in classify([], [], OFI_FAILED_LOG, efa_expected=True)] == [
        "EFA_FALLBACK_TCP"
    ]
    assert classify([], [], OFI_FAILED_LOG) == []
    # EFA in use: sockets for the bootstrap are fine once the OFI provider is selected.
    assert classify([], [], EFA_HEALTHY_LOG + EFA_SOCKET_LOG, efa_expected=True) == []


def test_remedies_name_the_config_key_or_command():
    def remedy(code, pods, events, log):
        return next(c.remedy for c in classify(pods, events, log) if c.code == code)

    limit = next(c for c in CASES if c[0] == "nodepool-limit")
    assert "trainstack:karpenter.nodePools.large.maxGpus" in remedy("NODEPOOL_LIMIT", *limit[1:4])
    assert "pulumi config set --secret trainstack:hfToken" in remedy(
        "SECRET_MISSING", *CASES[0][1:4]
    )
    assert "micro_batch_size" in remedy("CUDA_OOM", [], [], CUDA_OOM_LOG)
    assert "parallel.timeout_s" in remedy("NCCL_TIMEOUT", [], [], NCCL_TIMEOUT_LOG)
    assert "shmSize" in remedy("SHM_EXHAUSTED", [], [], SHM_LOG)
    assert "trainstack:trainingJobs.<job>.memory" in remedy(
        "OOM_KILLED", [pod(containers=[crashed("OOMKilled", 137)])], [], ""
    )
    pull = next(c for c in CASES if c[0] == "image-forbidden")
    assert "ECR read" in remedy("IMAGE_PULL", *pull[1:4])
    pull = next(c for c in CASES if c[0] == "image-not-found")
    assert "trainerImage" in remedy("IMAGE_PULL", *pull[1:4])


def test_remedy_commands_name_the_jobs_namespace():
    crashed_pod = pod(containers=[crashed("Error", 1)])
    [default] = classify([], [], RDZV_LOG)
    assert "kubectl get pods -n training " in default.remedy  # nothing says otherwise
    crashed_pod["metadata"]["namespace"] = "ml"
    [from_pod] = classify([crashed_pod], [], "")
    assert from_pod.code == "CONTAINER_FAILED" and "kubectl logs -n ml " in from_pod.remedy
    [given] = classify([], [], NCCL_TIMEOUT_LOG, namespace="research")
    assert "kubectl logs -n research " in given.remedy


def test_other_secret_gets_a_generic_remedy():
    causes = classify(
        [pod(containers=[waiting("CreateContainerConfigError", 'secret "wandb" not found')])],
        [],
        "",
    )
    assert causes[0].code == "SECRET_MISSING" and "'wandb'" in causes[0].summary
    assert "hfToken" not in causes[0].remedy


def test_events_k8s_io_shape_is_read_too():
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "reason": "FailedScheduling",
        "note": NO_GPU,
        "regarding": {"kind": "Pod", "name": "llama-1b-worker-2"},
    }
    causes = classify([], [ev], "")
    assert [c.code for c in causes] == ["GPU_UNSCHEDULABLE"]
    assert "llama-1b-worker-2" in causes[0].evidence


def test_format_causes():
    assert "No known failure cause" in format_causes([])
    text = format_causes(classify([], [], CUDA_OOM_LOG))
    assert text.startswith("1. [CUDA_OOM]") and "2. [NCCL_TIMEOUT]" in text
    assert "fix:" in text and "seen:" in text


def test_order_is_the_declared_order():
    # Several independent causes come out in CODES order whatever the input order.
    causes = classify(
        [pod(containers=[crashed("OOMKilled", 137)])], [], NCCL_TIMEOUT_LOG + HF_401_LOG
    )
    codes = [c.code for c in causes]
    assert codes == sorted(codes, key=CODES.index) == ["HF_AUTH", "OOM_KILLED", "NCCL_TIMEOUT"]
    assert diagnose.Cause("X", "s", "r").evidence == ""


@pytest.mark.parametrize(
    ("code", "words"), [(2, "configuration"), (3, "non-finite"), (4, "backoffLimit")]
)
def test_a_permanent_exit_says_why_the_job_was_not_restarted(code, words):
    """Exit 2, 3 and 4 are the trainer's permanent codes: under restartPolicy ExitCode the job
    fails at once (kubeflow/trainer v1.9.3 IsRetryableExitCode: < 128), and the cause says so."""
    (cause,) = classify([pod(containers=[crashed("Error", code)])], [], "")
    assert cause.code == "PERMANENT_EXIT" and words in cause.summary
    assert "failed at once" in cause.summary and f"exitCode {code}" in cause.evidence


def test_every_permanent_exit_code_of_the_trainer_is_explained():
    """The stdlib diagnose package keeps its own copy of trainer/exit_codes.py's table."""
    assert set(PERMANENT_EXITS) == set(exit_codes.PERMANENT)
    assert "trainstack logs" in PERMANENT_EXITS[exit_codes.EXIT_CRASH_LOOP][1]


def test_the_node_checks_exit_code_is_the_trainers_and_names_the_node():
    """The stdlib diagnose package keeps its own copy of EXIT_NODE_CHECK: it must be the
    trainer's, retryable for the operator (>= 128) and outside 128 + signal and 200."""
    assert NODE_CHECK_EXIT == exit_codes.EXIT_NODE_CHECK
    assert exit_codes.EXIT_NODE_CHECK >= 128 and exit_codes.EXIT_NODE_CHECK not in range(128, 193)
    assert exit_codes.EXIT_NODE_CHECK != exit_codes.EXIT_RETRY
    case = next(c for c in CASES if c[0] == "node-check")
    [cause] = classify(*case[1:4])
    assert "ip-10-0-7-12.us-west-2.compute.internal" in cause.summary
    assert "kubectl cordon ip-10-0-7-12" in cause.remedy and "exitCode 201" in cause.evidence
    # 201 from anything but the check is the workload's own code.
    plain = pod(containers=[crashed("Error", 201)])
    assert [c.code for c in classify([plain], [], "")] == ["CONTAINER_FAILED"]
