"""`trainstack doctor` as a whole: find the cluster, run the AWS checks and the Kubernetes
checks, print the report, exit 0 (warnings allowed), 1 (a check failed) or 2 (could not start)."""

from __future__ import annotations

import sys
from typing import TextIO

from .aws_checks import aws_results, check_cluster, list_clusters, pick_cluster
from .k8s import kubernetes_results
from .results import FAIL, DoctorError, Result, exit_code, render


def run(
    *,
    cluster: str | None,
    region: str | None,
    kubeconfig: str | None,
    session=None,
    out: TextIO | None = None,
) -> int:
    """The whole command: 0 all ok (warnings allowed), 1 a check failed, 2 could not start."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    out = out or sys.stdout  # looked up per call: tests and callers swap sys.stdout

    try:
        session = session or boto3.Session(region_name=region)
        region = session.region_name
        if not region:
            raise DoctorError("no AWS region: pass --region or set AWS_REGION")
        eks = session.client("eks")
        name = pick_cluster(list_clusters(eks), cluster, region)
        desc = eks.describe_cluster(name=name)["cluster"]
    except DoctorError as err:
        print(f"trainstack doctor: {err}", file=sys.stderr)
        return 2
    except NoCredentialsError as err:
        print(
            f"trainstack doctor: {err} (aws configure, aws sso login, or AWS_PROFILE)",
            file=sys.stderr,
        )
        return 2
    except NoRegionError as err:
        print(f"trainstack doctor: {err} (pass --region or set AWS_REGION)", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as err:
        print(f"trainstack doctor: AWS: {err}", file=sys.stderr)
        return 2

    print(f"Cluster {name} ({region}, Kubernetes {desc.get('version', '?')})", file=out)
    try:
        results = aws_results(session, desc)
    except (ClientError, BotoCoreError) as err:
        results = [
            *check_cluster(desc),
            Result(
                "AWS API",
                FAIL,
                str(err)[:200],
                "the remaining AWS checks need "
                "eks:Describe*/List*, sqs:GetQueue*, events:List*/Describe*",
                "use a role with read access to EKS, SQS and EventBridge",
            ),
        ]
    results += kubernetes_results(desc, region, kubeconfig)
    print(render(results), file=out)
    return exit_code(results)
