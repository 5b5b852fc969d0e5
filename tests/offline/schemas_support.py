"""Kubernetes objects the schema validation tests start from, valid as rendered, and the check
their errors are read with (trainstack.offline.schemas)."""

from __future__ import annotations

import pytest

# Tests of custom resources need the pinned CRDs (see the pinned_crds fixture); the built-in
# kinds and the directory lookup do not.
needs_crds = pytest.mark.usefixtures("pinned_crds")


# --------------------------------------------------------------------------- fixtures


def nodepool() -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu-p5", "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
        "spec": {
            "template": {
                "metadata": {"labels": {"trainstack.io/pool": "gpu"}},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "gpu",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand"],
                        },
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": ["p5.48xlarge", "p4d.24xlarge"],
                        },
                        {
                            "key": "karpenter.k8s.aws/instance-gpu-count",
                            "operator": "Gt",
                            "values": ["0"],
                        },
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                    "expireAfter": "720h",
                },
            },
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"},
            "limits": {"cpu": "1000", "nvidia.com/gpu": 64},  # int-or-string quantities
            "weight": 10,
        },
    }


def ec2nodeclass() -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": "trainstack-karpenter-node",
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "trainstack"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "trainstack"}}],
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "rootVolume": True,
                    "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True},
                },
            ],
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
            "tags": {"team": "ml"},
        },
    }


def _pod_template(image: str, name: str) -> dict:
    return {
        "metadata": {"labels": {"app": "trainer"}},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "command": ["torchrun", "--nproc-per-node=8", "-m", "trainer"],
                    "resources": {"limits": {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 4}},
                    "ports": [{"containerPort": 23456, "name": "pytorchjob-port"}],
                }
            ],
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }


def pytorchjob() -> dict:
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainer:1.0"
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "llama-fsdp", "namespace": "training"},
        "spec": {
            "nprocPerNode": "8",
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": _pod_template(image, "pytorch"),
                },
                "Worker": {
                    "replicas": 3,
                    "restartPolicy": "OnFailure",
                    "template": _pod_template(image, "pytorch"),
                },
            },
        },
    }


def rayjob() -> dict:
    def group_template(name: str) -> dict:
        return {
            "spec": {
                "containers": [
                    {
                        "name": name,
                        "image": "rayproject/ray:2.40.0",
                        "resources": {"limits": {"cpu": "4", "memory": "16Gi"}},
                    }
                ]
            }
        }

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "ray-sweep", "namespace": "training"},
        "spec": {
            "entrypoint": "python sweep.py",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "rayClusterSpec": {
                "rayVersion": "2.40.0",
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": group_template("ray-head"),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": 2,
                        "minReplicas": 0,
                        "maxReplicas": 4,
                        "rayStartParams": {},
                        "template": group_template("ray-worker"),
                    }
                ],
            },
        },
    }


def core_objects() -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "training"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "trainer-config", "namespace": "training"},
            "data": {"config.yaml": "lr: 0.001\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wandb", "namespace": "training"},
            "type": "Opaque",
            "stringData": {"api-key": "x"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "trainer",
                "namespace": "training",
                "annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/trainer"
                },
            },
        },
    ]


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dashboard", "namespace": "training"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dashboard"}},
            "template": {
                "metadata": {"labels": {"app": "dashboard"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "100m"}},
                        }
                    ]
                },
            },
        },
    }


def _assert_error(errors: list[str], *fragments: str) -> None:
    assert any(all(f in e for f in fragments) for e in errors), (
        f"no error containing {fragments!r} in:\n" + "\n".join(errors)
    )
