"""Exceptions a restart cannot fix, and what to change: the trainer exits EXIT_CONFIG on them
(train.main), so the operator fails the job at once instead of recreating pods that fail the
same way (exit_codes.py).

- GPU memory: torch 2.13 raises `torch.OutOfMemoryError` (a RuntimeError, also reachable as
  torch.cuda.OutOfMemoryError) with "CUDA out of memory" in its text. The same batch, sequence
  length and model on the same GPU type fail again after a restart.
- S3 client errors (4xx): botocore's `ClientError` carries `response["Error"]["Code"]` and
  `response["ResponseMetadata"]["HTTPStatusCode"]`. 403 AccessDenied, 404 NoSuchBucket /
  NoSuchKey (HeadObject answers a bare "404") repeat until the bucket, key or role changes. A few
  4xx are transient and stay retryable: 408 / RequestTimeout, 429 / throttling, an expired
  session token (the SDK fetches a new one), and RequestTimeTooSkewed (this node's clock).

A wrapped error counts too: boto3's upload_file raises S3UploadFailedError inside its
`except ClientError` (the ClientError is its __context__), and a DataLoader worker re-raises
its error as text only; so the cause chain is walked and the text is read as a last resort.
Only the standard library here: torch and botocore are recognised by name, not imported.
"""

from __future__ import annotations

import re

# 4xx that a retry can get past (S3 error codes, AWS API reference "Error responses").
RETRYABLE_S3_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
    }
)
RETRYABLE_STATUS = (408, 429)
# What only the text says (an error re-raised as a string): the codes that are never transient.
PERMANENT_S3_CODES = ("AccessDenied", "NoSuchBucket", "NoSuchKey", "403", "404",
                      "InvalidAccessKeyId", "AllAccessDisabled", "InvalidBucketName",
                      "NotFound", "Forbidden")  # fmt: skip
S3_TEXT_RE = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation")
CUDA_OOM_TEXT = "CUDA out of memory"

OOM_ADVICE = (
    "the model, its optimizer state and the activations of one micro-batch do not fit this "
    "GPU; a restart would fail the same way. Lower --micro-batch-size (the global batch is kept "
    "by gradient accumulation) or --seq-len, set --parallel.activation-checkpointing selective "
    "(or full, the least memory), or "
    "run on more GPUs or GPUs with more memory (trainstack:trainingJobs.<job>.args, nodes, "
    "gpusPerNode, nodePool)"
)
S3_ADVICE = (
    "a restart would be refused the same way. Check the S3 URL (--checkpoint.upload, the data "
    "source in the job's args) names an existing bucket and key, and that the job's role may "
    "use it (trainstack:artifacts; the jobs' ServiceAccount and its Pod Identity association)"
)


def chain(exc: BaseException):
    """The exception, then its causes and contexts, each once."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_cuda_oom(exc: BaseException) -> bool:
    names = {f"{c.__module__}.{c.__name__}" for c in type(exc).__mro__}
    return "torch.OutOfMemoryError" in names or CUDA_OOM_TEXT in str(exc)


def _s3_refusal(exc: BaseException) -> str | None:
    """'<code> on <operation>' for a permanent S3 client error, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = str((response.get("Error") or {}).get("Code") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        status = int(status) if isinstance(status, int | str) and str(status).isdigit() else 0
        if not 400 <= status < 500 or status in RETRYABLE_STATUS or code in RETRYABLE_S3_CODES:
            return None
        operation = getattr(exc, "operation_name", None) or "an S3 request"
        return f"{status} {code} on {operation}"
    m = S3_TEXT_RE.search(str(exc))
    if m and m.group(1) in PERMANENT_S3_CODES:
        return f"{m.group(1)} on {m.group(2)}"
    return None


def explain(exc: BaseException) -> str | None:
    """The message for an exception a restart cannot fix; None for any other."""
    for e in chain(exc):
        if _is_cuda_oom(e):
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return f"CUDA out of memory ({first[:200]}): {OOM_ADVICE}"
    for e in chain(exc):
        refused = _s3_refusal(e)
        if refused:
            return f"S3 refused the request: {refused} ({str(e)[:200]}); {S3_ADVICE}"
    return None
