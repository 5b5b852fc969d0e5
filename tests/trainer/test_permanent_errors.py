"""Errors a restart cannot fix (trainer/permanent_errors.py): a CUDA out-of-memory error and an
S3 4xx end the trainer with EXIT_CONFIG (2), which the operator does not retry; throttling,
timeouts and server errors stay retryable. The botocore errors are real ClientErrors in the
shape botocore builds them (response["Error"]["Code"], ResponseMetadata.HTTPStatusCode), and an
upload's is wrapped as boto3's upload_file wraps it."""

from __future__ import annotations

import pytest
import torch
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from trainer import exit_codes, launch, train
from trainer.permanent_errors import explain


def client_error(status: int, code: str, operation: str = "GetObject") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def upload_failed(err: ClientError) -> S3UploadFailedError:
    """boto3/s3/transfer.py upload_file raises inside `except ClientError`: chained implicitly."""
    try:
        try:
            raise err
        except ClientError as e:
            raise S3UploadFailedError(f"Failed to upload /x to b/k: {e}")  # noqa: B904
    except S3UploadFailedError as wrapped:
        return wrapped


def test_cuda_oom_is_permanent_and_says_what_to_change():
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 ...")
    why = explain(oom)
    assert why and why.startswith("CUDA out of memory") and "--micro-batch-size" in why
    assert explain(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    # Raised inside something else (a checkpoint save): the chain is read.
    try:
        try:
            raise oom
        except torch.OutOfMemoryError as e:
            raise RuntimeError("save failed") from e
    except RuntimeError as outer:
        assert explain(outer)


@pytest.mark.parametrize(
    "status, code, operation",
    [(403, "AccessDenied", "PutObject"), (404, "NoSuchBucket", "ListObjectsV2"),
     (404, "NoSuchKey", "GetObject"), (404, "404", "HeadObject")],
)  # fmt: skip
def test_s3_4xx_is_permanent_and_names_the_operation(status, code, operation):
    why = explain(client_error(status, code, operation))
    assert why and f"{status} {code} on {operation}" in why and "checkpoint.upload" in why
    assert explain(upload_failed(client_error(status, code, "PutObject")))
    # Re-raised as text (a DataLoader worker's error): the botocore text is read.
    assert explain(RuntimeError(str(client_error(status, code, operation))))


@pytest.mark.parametrize(
    "status, code",
    [(429, "TooManyRequests"), (408, "RequestTimeout"), (503, "SlowDown"), (500, "InternalError"),
     (400, "RequestTimeout"), (400, "ExpiredToken"), (403, "RequestTimeTooSkewed"),
     (400, "ThrottlingException")],
)  # fmt: skip
def test_throttling_timeouts_and_server_errors_stay_retryable(status, code):
    assert explain(client_error(status, code)) is None
    assert explain(upload_failed(client_error(status, code))) is None


def test_other_errors_are_not_permanent():
    assert explain(RuntimeError("NCCL communicator was aborted")) is None
    assert explain(ValueError("x")) is None


@pytest.mark.parametrize(
    "error",
    [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB"),
     client_error(403, "AccessDenied", "ListObjectsV2")],
)  # fmt: skip
def test_the_trainer_exits_2_on_them_and_launch_passes_2_on(monkeypatch, capsys, error):
    def run(cfg):
        raise error

    monkeypatch.setattr(train, "run", run)
    assert train.main(["--preset", "tiny"]) == exit_codes.EXIT_CONFIG
    assert "trainer: error:" in capsys.readouterr().err
    # A rank's 2 wins over its peers' collateral failures in the pod's code (permanent).
    assert exit_codes.pod_code([exit_codes.EXIT_CONFIG, 1, -15]) == exit_codes.EXIT_CONFIG
    assert launch.exit_codes is exit_codes


def test_any_other_exception_still_propagates(monkeypatch):
    def run(cfg):
        raise RuntimeError("NCCL error: remote process exited")

    monkeypatch.setattr(train, "run", run)
    with pytest.raises(RuntimeError):
        train.main(["--preset", "tiny"])
