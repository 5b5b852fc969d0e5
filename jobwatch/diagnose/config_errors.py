"""Rules for a job its configuration stops outright: a missing Secret, an image the node cannot
pull, a Hugging Face download refused. Stdlib only, like the whole package, so the trainer image
can run it."""

from __future__ import annotations

import re

from .inputs import Found, Inputs, clip, waiting_of, where

HF_SECRET = "hf-token"  # components.pod_spec.HF_TOKEN_SECRET; not imported to stay stdlib-only

SECRET_MISSING_RE = re.compile(
    r'secret "?([\w.-]+)"? not found|'
    r"couldn't find key (\S+) in Secret [\w-]+/([\w.-]+)"
)


def secret_missing(x: Inputs) -> Found:
    texts = [
        (pod, str(waiting_of(cs).get("message") or ""))
        for pod, cs in x.containers()
        if waiting_of(cs).get("reason") == "CreateContainerConfigError"
    ]
    texts += [(obj, msg) for _, msg, obj in x.event_texts()]
    for pod, text in texts:
        m = SECRET_MISSING_RE.search(text)
        if not m:
            continue
        secret = m.group(1) or m.group(3)
        if secret == HF_SECRET:
            remedy = (
                "the stack creates this Secret from the hfToken secret: run `pulumi config "
                "set --secret trainstack:hfToken hf_...` and `pulumi up`; or, if the job "
                "needs no gated model, drop `hfToken: true` from "
                "trainstack:trainingJobs.<job>. Check: `kubectl get secret hf-token -n "
                f"{x.namespace}`"
            )
        else:
            remedy = (
                f"create Secret {secret!r} in the pod's namespace, or remove the reference "
                "(trainstack:trainingJobs.<job>.env); `kubectl get secrets -n "
                f"{x.namespace}` lists what exists"
            )
        return (
            f"the container cannot start: Secret {secret!r} (or its key) does not exist in "
            "the pod's namespace",
            remedy,
            where(pod) + clip(text),
        )
    return None


PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")


def image_pull(x: Inputs) -> Found:
    hits = [
        (pod, f"{w.get('reason')}: {w.get('message') or ''}")
        for pod, cs in x.containers()
        if (w := waiting_of(cs)).get("reason") in PULL_REASONS
    ]
    hits += [
        (obj, msg)
        for reason, msg, obj in x.event_texts()
        if reason in ("Failed", "BackOff") and re.search(r"pull(ing)? image", msg, re.I)
    ]
    if not hits:
        return None
    pod, text = hits[0]
    everything = " ".join(t for _, t in hits)
    if re.search(r"403|unauthorized|no basic auth|denied|authorization", everything, re.I):
        remedy = (
            "the node may not read the repository: the node role needs ECR read access "
            "(AmazonEC2ContainerRegistryReadOnly) and a cross-account repository a policy "
            "allowing it; check `aws ecr get-repository-policy`"
        )
    else:
        remedy = (
            "the image reference does not exist: compare it with `pulumi stack output "
            "trainerImage`, check the CodeBuild build of the trainer image succeeded "
            "(`aws codebuild list-builds-for-project`), and run `pulumi up` to rebuild and "
            "re-point the jobs; `kubectl describe pod` shows the exact pull error"
        )
    return (
        "the node cannot pull the container image, so the container never starts",
        remedy,
        where(pod) + clip(text),
    )


HF_AUTH_RE = re.compile(
    r"401 Client Error|Repository Not Found for url|GatedRepoError|gated repo|"
    r"Invalid user token|Invalid credentials in Authorization header|"
    r"HF_TOKEN\W.{0,40}(not set|missing|empty|invalid)|"
    r"(set|export|provide) (the |your )?HF_TOKEN|Access to model .* is restricted",
    re.I,
)


def hf_auth(x: Inputs) -> Found:
    line = x.first_line(HF_AUTH_RE)
    if line is None:
        return None
    gated = re.search(r"gated|restricted", line, re.I)
    what = (
        "the model is gated: the token's account has not been granted access"
        if gated
        else "Hugging Face refused the download: no token, an invalid one, or a "
        "repository name that does not exist (private and missing look alike without a token)"
    )
    return (
        what,
        "set the token with `pulumi config set --secret trainstack:hfToken hf_...`, add "
        "`hfToken: true` to trainstack:trainingJobs.<job> and `pulumi up`; for a gated model "
        "accept its license on huggingface.co with the token's account; check the model name "
        "in the job's args",
        clip(line),
    )


# The trainer's own line for an S3 4xx (trainer/permanent_errors.py), or botocore's text.
S3_REFUSED_RE = re.compile(
    r"S3 refused the request|An error occurred \((AccessDenied|NoSuchBucket|NoSuchKey|403|404|"
    r"InvalidAccessKeyId|AllAccessDisabled)\) when calling the \w+ operation"
)


def s3_refused(x: Inputs) -> Found:
    line = x.first_line(S3_REFUSED_RE)
    if line is None:
        return None
    return (
        "S3 refused a request with 403 or 404 (access denied, no such bucket or key): the "
        "trainer stops with exit code 2, since a restart would be refused the same way",
        "check the S3 URLs in trainstack:trainingJobs.<job>.args (checkpoint.upload, the "
        "data source) name an existing bucket and key, and that the jobs' role may use them "
        "(trainstack:artifacts; the `training` ServiceAccount's Pod Identity association); "
        "the line names the operation",
        clip(line),
    )
