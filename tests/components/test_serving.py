"""Served models (components/serving.py, components/config/serving.py): config errors that name
their key, the vLLM Deployment and Service against the Kubernetes schemas, the policy pack and
the restricted profile, the server's command line against the facts read from vLLM v0.11.0, and
who may reach a server under the rendered NetworkPolicies (tests/netpol_eval.py)."""

from __future__ import annotations

import copy
import re

import pytest
from netpol_eval import Address, ClusterModel, Pod, Service
from support import stack_data

from components import aws_names, config, dev_pod, engine_image, network_policy, serving
from components.config.serving import ServingJobConfig, parse_model
from policies import ALL_RULES, BY_NAME
from trainstack.offline import schemas

NS = "training"
ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ENGINE = f"{ECR}/trainstack-efa-hub-765338/vllm/vllm-openai@{engine_image.VLLM_DIGEST}"
TRAINER = f"{ECR}/trainstack-efa/trainer@sha256:" + "ab" * 32
BUCKET = "trainstack-efa-artifacts-20261207"
SERVERS = {
    "from-s3": {
        "model": "s3://{artifactsBucket}/models/llama-8b",
        "gpus": 4,
        "tensorParallelSize": 2,
    },
    "from-volume": {"model": "volume://checkpoints/models/llama-8b", "gpus": 4},
    "from-hub": {"model": "hf://meta-llama/Llama-3.2-1B@main", "hfToken": True, "gpus": 1},
}


def _data(servers: dict, **top) -> tuple[dict, str]:
    """The efa stack with these servers (on its efa pool, 8192 tokens unless given)."""
    data, region = stack_data("efa")
    data["servingJobs"] = {
        n: {"nodePool": "efa", "maxModelLen": 8192, **s} for n, s in servers.items()
    }
    data.update(top)
    return data, region


def _cfg(servers: dict = SERVERS, **top) -> config.PlatformConfig:
    data, region = _data(servers, hfToken="hf_x", **top)
    return config.parse(data, region)


def _issues(server: dict, **top) -> list[str]:
    data, region = _data({"m": server}, **top)
    with pytest.raises(config.ConfigError) as err:
        config.parse(data, region)
    return err.value.issues


# ------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        ({"model": "gs://b/models/x"}, "model", "expected s3://{artifactsBucket}/models/"),
        ({"model": "s3://{artifactsBucket}/checkpoints/x"}, "model", "models/"),
        ({"model": "s3://someone-else/models/x"}, "model", "not the stack's artifacts bucket"),
        (
            {"model": "hf://meta-llama/Llama-3.2-1B"},
            "model",
            "set trainstack:servingJobs.m.hfToken",
        ),
        ({"model": "volume://nope/x"}, "model", "no such volume"),
        ({"model": "hf://not-an-id"}, "model", "hf://<org>/<name>"),
        ({"tensorParallelSize": 3}, "tensorParallelSize", "allowed: 1, 2, 4"),
        ({"nodePool": "nope"}, "nodePool", "no such GPU pool"),
        ({"gpus": 16}, "gpus", "16"),
        ({"replicas": 9}, "replicas", "above the 32 GPUs pool 'efa'"),
        ({"image": "vllm/vllm-openai:v0.11.0"}, "image", "ECR image by digest"),
        ({"maxModelLen": 1}, "maxModelLen", "greater than or equal to 16"),
        ({"temperature": 0.5}, "temperature", "unknown key; allowed here: model, nodePool"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_key(edit, key, says):
    server = {"model": "s3://{artifactsBucket}/models/llama-8b", "gpus": 4, **edit}
    issues = _issues(server)
    named = [i for i in issues if i.startswith(f"trainstack:servingJobs.m.{key}")]
    assert named and says in named[0], issues


def test_a_running_server_of_the_pinned_image_needs_the_docker_hub_credential():
    server = {"model": "s3://{artifactsBucket}/models/llama-8b", "replicas": 1}
    issues = _issues(server)
    assert [i.split(":")[1] for i in issues] == ["dockerHubUser", "dockerHubToken"], issues
    assert "servingJobs.m.replicas" in issues[0] and "--secret" in issues[1]
    # Stopped, or with an image of its own, it pulls nothing from Docker Hub.
    assert _cfg({"m": {**server, "replicas": 0}})
    own = f"{ECR}/verl@sha256:" + "0" * 64
    assert _cfg({"m": {**server, "image": own}})


def test_an_ebs_volume_cannot_hold_a_served_model():
    data, region = _data({"m": {"model": "volume://scratch/m"}})
    data["volumes"]["scratch"] = {"type": "ebs", "size": "100Gi"}
    with pytest.raises(config.ConfigError, match=r"servingJobs\.m\.model.*EBS"):
        config.parse(data, region)


def test_the_model_forms_parse():
    assert parse_model("hf://meta-llama/Llama-3.2-1B@v1.0").revision == "v1.0"
    s3 = parse_model(f"s3://{BUCKET}/models/a/b/")
    assert (s3.kind, s3.bucket, s3.location) == ("s3", BUCKET, "models/a/b")
    vol = parse_model("volume://checkpoints/exports/x")
    assert (vol.kind, vol.volume, vol.location) == ("volume", "checkpoints", "exports/x")
    assert isinstance(parse_model("volume://checkpoints/../etc"), str)


# ----------------------------------------------------------------------------------- render


def _target(cfg: config.PlatformConfig, name: str) -> serving.ServingTarget:
    s = cfg.serving_jobs[name]
    return serving.ServingTarget(
        NS,
        ENGINE,
        TRAINER,
        cfg.pools()[s.node_pool],
        cfg.volumes.get(s.source.volume or ""),
        "training-serving" if s.source.kind == "s3" else None,
        BUCKET,
        "a-1b2c3d" if s.source.kind == "s3" else None,
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[ServingJobConfig, dict]]:
    cfg = _cfg()
    return {
        n: (s, serving.render_deployment(n, s, _target(cfg, n)))
        for n, s in cfg.serving_jobs.items()
    }


def _pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def test_deployment_and_service_validate_and_pass_the_pack(rendered):
    for name, (_, deployment) in rendered.items():
        service = serving.render_service(name, NS)
        assert schemas.validate_object(deployment) == [], name
        assert schemas.validate_object(service) == [], name
        broken = {
            r.name: found
            for r in ALL_RULES
            if (found := r("kubernetes:apps/v1:Deployment", deployment))
        }
        assert broken == {}, name
        # The pack's image rules read Pods and jobs: the server's pod meets them as a Pod too.
        as_pod = {"metadata": {"name": name}, "spec": _pod(deployment)}
        for rule in ("job-images-from-ecr", "job-images-by-digest"):
            assert BY_NAME[rule]("kubernetes:core/v1:Pod", as_pod) == [], rule
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_a_root_server_would_fail_the_restricted_profile(rendered):
    """The pack check above can fail: the same pod running as root does."""
    _, deployment = copy.deepcopy(rendered["from-s3"])
    _pod(deployment)["securityContext"]["runAsUser"] = 0
    assert BY_NAME["pod-run-as-non-root-user"]("kubernetes:apps/v1:Deployment", deployment)


def test_where_the_model_comes_from_shapes_the_pod(rendered):
    s3_spec, vol_spec, hub_spec = (
        _pod(rendered[n][1]) for n in ("from-s3", "from-volume", "from-hub")
    )
    # s3: the trainer image copies the export (bucket placeholder resolved) under the serving
    # identity, into the emptyDir vLLM then loads offline.
    (fetch,) = s3_spec["initContainers"]
    assert fetch["image"] == TRAINER
    assert fetch["command"][-2:] == [f"s3://{BUCKET}/models/llama-8b/", serving.FETCHED]
    assert s3_spec["serviceAccountName"] == "training-serving"
    server = s3_spec["containers"][0]
    assert server["args"][:2] == ["--model", serving.FETCHED]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in server["env"]
    # volume: the claim, read-only; no identity, no copy.
    (vol_server,) = vol_spec["containers"]
    assert "initContainers" not in vol_spec and "serviceAccountName" not in vol_spec
    claim = next(v for v in vol_spec["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": "checkpoints", "readOnly": True}
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in vol_server["volumeMounts"]
    assert vol_server["args"][:2] == ["--model", "/models/models/llama-8b"]
    # hub: vLLM downloads with the token from the stack's Secret, at the revision.
    (hub_server,) = hub_spec["containers"]
    assert hub_server["args"][:4] == ["--model", "meta-llama/Llama-3.2-1B", "--revision", "main"]
    token = next(e for e in hub_server["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == "hf-token"


def test_the_server_gets_its_gpus_pool_and_probes(rendered):
    s, deployment = rendered["from-s3"]
    spec = _pod(deployment)
    server = spec["containers"][0]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert spec["nodeSelector"] == {"karpenter.sh/nodepool": "efa"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 15 * 60  # an 8B model
    # Two engines of tensor parallel 2 on the replica's 4 GPUs.
    args = server["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--data-parallel-size") + 1] == "2"
    assert args[args.index("--served-model-name") + 1] == "from-s3"
    assert deployment["spec"]["replicas"] == s.replicas == 0


def test_every_flag_and_variable_the_server_gets_is_checked_against_vllm(rendered):
    for _, deployment in rendered.values():
        server = _pod(deployment)["containers"][0]
        flags = {a for a in server["args"] if a.startswith("--")}
        names = {e["name"] for e in server["env"]} - {"HOME", "TMPDIR", "TORCH_HOME"}
        names -= {"TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "MPLCONFIGDIR"}
        names -= {"TORCH_NCCL_DEBUG_INFO_TEMP_FILE", "PYTHONDONTWRITEBYTECODE"}
        unchecked = (flags | names | {" ".join(server["command"])}) - serving.ENGINE_FACTS.keys()
        assert unchecked == set()
    assert serving.HEALTH in serving.ENGINE_FACTS


# ------------------------------------------------------------------------------ the engine


def test_the_engine_is_pinned_by_digest_in_the_caches_repository():
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", engine_image.VLLM_DIGEST)
    url = f"{ECR}/{aws_names.engine_repository('trainstack-efa', engine_image.UPSTREAM_REPOSITORY)}"
    assert engine_image.image_ref(url) == ENGINE
    policy = engine_image.render_repository_policy(
        ["arn:aws:iam::1:role/b", "arn:aws:iam::1:role/a"]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"]["AWS"] == ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]
    assert "ecr:BatchImportUpstreamImage" in statement["Action"]
    # Untagged digests included (tagStatus any): the cache keeps the newest images only.
    (rule,) = engine_image.render_lifecycle_policy()["rules"]
    assert rule["selection"]["tagStatus"] == "any"
    assert rule["selection"]["countNumber"] == engine_image.KEEP_CACHED


def test_the_cache_prefix_fits_ecr_for_any_cluster_name():
    import aws_rules

    longest = "c" * config.max_cluster_name_length()
    prefixes = {
        aws_names.engine_cache_prefix(n) for n in ("trainstack-efa", longest, longest[:-1] + "d")
    }
    assert len(prefixes) == 3  # names that start alike still differ
    for p in prefixes:
        rule = ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule", "ecrRepositoryPrefix")
        assert aws_rules.problems(*rule, p) == [], p


# ------------------------------------------------------------------------------- the flows

S3 = Address("S3", "52.92.160.10")
IMDS = Address("IMDS", "169.254.169.254")
POD_IDENTITY = Address("EKS Pod Identity agent", "169.254.170.23")


def _world(cfg: config.PlatformConfig) -> tuple[ClusterModel, dict[str, Pod]]:
    from components.workloads import stack_contracts

    contracts = stack_contracts(cfg)
    policies = [network_policy.render_default_deny(NS)]
    policies += [network_policy.render_contract(c, NS) for c in contracts.in_workloads()]
    ips = (f"10.43.0.{i}" for i in range(10, 250))
    pods = {
        name: Pod(name, ns, labels, next(ips), next(ips))
        for name, ns, labels in [
            *[(n, NS, serving.labels(n)) for n in cfg.serving_jobs],
            ("dev", NS, dev_pod.LABELS),
            ("job", NS, {"trainstack.io/job": "llama-8b", "trainstack.io/role": "pytorch"}),
            ("dns", "kube-system", {"k8s-app": "kube-dns"}),
            ("other", "default", {"app": "other"}),
        ]
    }
    return ClusterModel(policies, list(pods.values())), pods


def test_only_the_dev_pod_calls_a_server_and_each_server_calls_only_what_its_model_needs():
    cfg = _cfg(devPod={"enabled": True, "nodePool": "efa", "ssh": False})
    model, pods = _world(cfg)
    for name in cfg.serving_jobs:
        svc = Service(name, NS, serving.selector(name))
        assert model.allowed(pods["dev"], svc, 8000)
        assert not model.allowed(pods["job"], svc, 8000)
        assert not model.allowed(pods["other"], svc, 8000)
        assert not model.allowed(pods["dev"], svc, 9000)  # the server's port only
        server = pods[name]
        assert model.allowed(server, pods["dns"], 53, "UDP")
        assert not model.allowed(server, IMDS, 80)
        assert not model.allowed(server, pods["job"], 23456)
    # S3 with the serving identity for the copy; the hub over 443; a volume needs neither.
    assert model.allowed(pods["from-s3"], S3, 443) and model.allowed(
        pods["from-s3"], POD_IDENTITY, 80
    )
    assert model.allowed(pods["from-hub"], S3, 443)
    assert not model.allowed(pods["from-hub"], POD_IDENTITY, 80)
    assert not model.allowed(pods["from-volume"], S3, 443)
    # Without a dev pod nothing in the cluster calls it (port-forward enters through the kubelet).
    model, pods = _world(_cfg())
    assert not model.allowed(pods["dev"], Service("from-s3", NS, serving.selector("from-s3")), 8000)
