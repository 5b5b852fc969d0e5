"""ServingJob: one `servingJobs` entry as a vLLM OpenAI-compatible server Deployment and the
ClusterIP Service in front of it, in the jobs namespace.

Pods run as the training pods do (pod_spec.harden_pod: the "restricted" profile, uid 1000, a
read-only root with emptyDirs at $HOME and /tmp, no Kubernetes API token), on the pool's GPU
nodes with its toleration and selector. Where the model comes from decides the rest:
- s3: an init container of this stack's trainer image (boto3, EKS Pod Identity) copies the
  export from `models/` of the artifacts bucket into an emptyDir, under the serving
  ServiceAccount, whose role may only list and read `models/` (artifacts_access.read_models);
  vLLM then loads a local directory, offline. The copy is the trainer's code, not vLLM's
  runai_streamer: that loader's S3 client would have to find Pod Identity credentials itself,
  which nothing here can check without a cluster.
- volume: the volume's claim, mounted read-only; no AWS identity, no egress but DNS.
- hub: vLLM downloads it into $HOME/.cache/huggingface with the stack's HF token.

`render_*` are pure (config in, manifest out), so the tests validate them against the Kubernetes
schemas, the policy pack and the network flows; the component only declares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import artifacts_access, pod_spec
from . import runtime_contract as rc
from .config import PodSize, PoolFacts, VolumeConfig, pod_size
from .config.serving import ARTIFACTS_BUCKET, ModelSource, ServingJobConfig

PORT = 8000  # vLLM's default --port (FrontendArgs.port), passed anyway
CONTAINER = "vllm"
FETCH_CONTAINER = "fetch-model"
MODEL_DIR = "/models"  # the s3 copy's emptyDir, or the volume's mount
FETCHED = f"{MODEL_DIR}/model"
SERVING_LABEL = "trainstack.io/serving"
HEALTH = "/health"  # 200 once the engine runs, 503 when it died (api_server.py `health`)
# The first /health answers once the weights are on the GPUs and vLLM has compiled and captured
# its CUDA graphs. An 8B model in bf16 is 16 GB: loading a local copy takes a minute or two,
# compiling a few more; from the hub the download comes first (16 GB at a slow 25 MB/s is about
# 11 minutes). 20 minutes before the kubelet restarts the container.
STARTUP_PERIOD_S = 10
STARTUP_FAILURES = 120
# The s3 copy is I/O bound: a little CPU and memory, the same on every pool.
FETCH_SIZE = PodSize(gpus=0, efa=0, cpu="1", memory="2Gi", shm="64Mi")

# Each flag and variable the server gets, and where the vLLM source of the pinned release
# (engine_image.VLLM_TAG, read from the v0.11.0 wheel) defines it.
ENGINE_FACTS = {
    "vllm serve": "vllm-0.11.0.dist-info/entry_points.txt (console script `vllm`), "
    "vllm/entrypoints/cli/serve.py ServeSubcommand",
    "--model": "vllm/engine/arg_utils.py EngineArgs.add_cli_args (ModelConfig.model)",
    "--revision": "vllm/engine/arg_utils.py (ModelConfig.revision; the tokenizer's revision "
    "defaults to it, vllm/config/model.py)",
    "--served-model-name": "vllm/engine/arg_utils.py (ModelConfig.served_model_name)",
    "--max-model-len": "vllm/engine/arg_utils.py (ModelConfig.max_model_len)",
    "--tensor-parallel-size": "vllm/engine/arg_utils.py (ParallelConfig.tensor_parallel_size)",
    "--data-parallel-size": "vllm/engine/arg_utils.py (ParallelConfig.data_parallel_size); one "
    "API server balances over the engines, vllm/v1/engine/core_client.py "
    "make_async_mp_client (DPLBAsyncMPClient)",
    "--host": "vllm/entrypoints/openai/cli_args.py FrontendArgs.host",
    "--port": "vllm/entrypoints/openai/cli_args.py FrontendArgs.port (default 8000)",
    "HF_TOKEN": "vllm/transformers_utils/config.py (os.getenv('HF_TOKEN')), and huggingface_hub",
    "HF_HOME": "huggingface_hub's cache root (pod_spec.cache_env sets it under $HOME)",
    "HF_HUB_OFFLINE": "vllm/transformers_utils/config.py and tokenizer.py pass "
    "huggingface_hub.constants.HF_HUB_OFFLINE as local_files_only",
    "XDG_CACHE_HOME": "vllm/envs.py get_default_cache_root: VLLM_CACHE_ROOT defaults under it",
    "XDG_CONFIG_HOME": "vllm/envs.py get_default_config_root: VLLM_CONFIG_ROOT defaults under it",
    "USER": "Python's getpass.getuser() reads LOGNAME, USER, LNAME, USERNAME before the "
    "password database, which has no entry for the pod's uid in the image (torch, triton)",
    "LOGNAME": "as USER",
    "VLLM_NO_USAGE_STATS": "vllm/envs.py (== '1' turns the usage report off)",
    "DO_NOT_TRACK": "vllm/envs.py VLLM_DO_NOT_TRACK (reads DO_NOT_TRACK too)",
    HEALTH: "vllm/entrypoints/openai/api_server.py `@router.get('/health')`",
}


@dataclass(frozen=True)
class ServingTarget:
    """Where a server runs and what it reads from."""

    namespace: str
    image: str  # the engine, <repository>@sha256:<digest>
    fetch_image: str  # this stack's trainer image (the s3 copy)
    pool: PoolFacts
    volume: VolumeConfig | None = None  # a volume:// model's volume
    service_account: str | None = None  # the serving identity (s3 models)
    artifacts_bucket: str | None = None
    identity: str | None = None  # its Pod Identity association id, on the pod template


def labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": "trainstack",
        "app.kubernetes.io/name": "vllm",
        SERVING_LABEL: name,
    }


def selector(name: str) -> dict[str, str]:
    return {SERVING_LABEL: name}


def model_path(source: ModelSource) -> str:
    """What vLLM's --model gets: the local copy, the path on the volume, or the hub id."""
    if source.kind == "s3":
        return FETCHED
    if source.kind == "volume":
        return f"{MODEL_DIR}/{source.location}"
    return source.location


def s3_url(source: ModelSource, bucket: str | None) -> str:
    """The export's prefix; the placeholder becomes the stack's bucket."""
    name = bucket if source.bucket == ARTIFACTS_BUCKET else source.bucket
    return f"s3://{name}/{source.location}/"


def engine_args(name: str, s: ServingJobConfig) -> list[str]:
    """`vllm serve` options (ENGINE_FACTS). Data parallel only when a tensor-parallel group
    leaves GPUs of the replica idle."""
    source = s.source
    args = ["--model", model_path(source)]
    if source.kind == "hub" and source.revision:
        args += ["--revision", source.revision]
    args += [
        "--served-model-name",
        name,
        "--max-model-len",
        str(s.max_model_len),
        "--tensor-parallel-size",
        str(s.tp),
    ]
    if s.data_parallel > 1:
        args += ["--data-parallel-size", str(s.data_parallel)]
    return args + ["--host", "0.0.0.0", "--port", str(PORT)]


def engine_env(s: ServingJobConfig) -> list[dict[str, Any]]:
    env = [
        # No pod user in the image's /etc/passwd: getpass.getuser() reads these first.
        {"name": "USER", "value": "vllm"},
        {"name": "LOGNAME", "value": "vllm"},
        # No usage report to vLLM's stats server.
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if s.source.kind != "hub":
        env.append({"name": "HF_HUB_OFFLINE", "value": "1"})  # a local model: no hub calls
    if s.hf_token:
        env.append(pod_spec.hf_token_env())
    return env


def _probe(period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": HEALTH, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _fetch_container(url: str, image: str) -> dict[str, Any]:
    return {
        "name": FETCH_CONTAINER,
        "image": image,
        "command": ["python", "-m", "trainer.model_fetch", url, FETCHED],
        "resources": pod_spec.resources(FETCH_SIZE),
    }


def render_pod_spec(name: str, s: ServingJobConfig, target: ServingTarget) -> dict[str, Any]:
    source = s.source
    size = pod_size(target.pool, s.gpus, efa=False, cpu=s.cpu, memory=s.memory, shm=s.shm_size)
    shm, shm_mount = pod_spec.shm_volume(size)
    volumes, mounts = [shm], [shm_mount]
    writable: dict[str, str] = {}
    init: list[dict[str, Any]] = []
    if source.kind == "s3":
        writable["models"] = MODEL_DIR  # the copy's emptyDir, in both containers
        init.append(_fetch_container(s3_url(source, target.artifacts_bucket), target.fetch_image))
    elif source.kind == "volume" and target.volume is not None:
        claim = pod_spec.claim_name(str(source.volume), target.volume)
        volumes.append(
            {"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        )
        mounts.append({"name": "model", "mountPath": MODEL_DIR, "readOnly": True})
    server = {
        "name": CONTAINER,
        "image": target.image,
        "command": ["vllm", "serve"],
        "args": engine_args(name, s),
        "env": engine_env(s),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": pod_spec.resources(size),
        "volumeMounts": mounts,
        "startupProbe": _probe(STARTUP_PERIOD_S, STARTUP_FAILURES),
        "readinessProbe": _probe(10, 3),
        # After startup: a dead engine answers 503, and the kubelet restarts the container.
        "livenessProbe": _probe(30, 3),
    }
    spec: dict[str, Any] = {
        **pod_spec.placement(target.pool, efa=False),
        "containers": [server],
        "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    return pod_spec.with_service_account(
        pod_spec.harden_pod(spec, writable=writable), target.service_account
    )


def render_deployment(name: str, s: ServingJobConfig, target: ServingTarget) -> dict[str, Any]:
    template_meta: dict[str, Any] = {"labels": labels(name)}
    if target.identity is not None:
        template_meta["annotations"] = {pod_spec.IDENTITY_ANNOTATION: target.identity}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": labels(name),
            # `pulumi up` declares the server and returns: a model takes minutes to load, and
            # a GPU node minutes to arrive.
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "spec": {
            # 0: declared stopped, no pod and no GPU node.
            "replicas": s.replicas,
            "selector": {"matchLabels": selector(name)},
            # A new version replaces pods one by one without a surge: no extra GPU node for
            # the update (a single replica is down while its successor loads).
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {"metadata": template_meta, "spec": render_pod_spec(name, s, target)},
        },
    }


def render_service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(name)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def service_account(artifacts_service_account: str) -> str:
    """The serving identity's ServiceAccount: its own, so its role reads models and no more."""
    return f"{artifacts_service_account}-serving"


def contract_name(name: str) -> str:
    return f"serving-{name}"


def contract(
    name: str,
    s: ServingJobConfig,
    *,
    service_account: str | None,
    https_except_vpc: str | None,
    claim: str | None,
    dev_pod: Mapping[str, str] | None,
) -> rc.Contract:
    """Who calls the server: the dev pod on its port, when there is one (`kubectl
    port-forward` enters through the kubelet, inside the pod: no flow; so do the kubelet's
    probes, from the node's address, which the policy agent always admits). What it calls:
    DNS; S3 (the copy, under the serving identity) or the hub (the download) over 443.
    `service_account` is the serving ServiceAccount, used by an s3 model only; `dev_pod` the
    dev pod's labels, when there is one."""
    source = s.source
    calls = [rc.dns()]
    if source.kind in ("s3", "hub"):
        calls.append(rc.https_outside(https_except_vpc))
    needs = []
    if s.hf_token:
        needs.append(rc.secret_need(pod_spec.HF_TOKEN_SECRET))
    if source.kind == "volume" and claim is not None:
        needs.append(rc.claim_need(claim))
    identity = source.kind == "s3" and service_account is not None
    called_by = ()
    if dev_pod is not None:
        called_by = (rc.same_pods("the dev pod", dev_pod, (rc.Port(PORT),)),)
    return rc.Contract(
        name=contract_name(name),
        workload=f"vLLM server {name}",
        pods=selector(name),
        calls=tuple(calls),
        called_by=called_by,
        service_account=service_account if identity else None,
        aws_identity=identity,
        aws_access=artifacts_access.read_models() if identity else (),
        needs=tuple(needs),
    )


def dev_pod_call(name: str) -> rc.Peer:
    """The dev pod's side of its call to a server (dev_pod.contract)."""
    return rc.same_pods(f"vLLM server {name}", selector(name), (rc.Port(PORT),))


@dataclass
class ServingJobArgs:
    config: ServingJobConfig
    namespace: str
    image: pulumi.Input[str]  # the engine image (or the entry's own)
    fetch_image: pulumi.Input[str]  # this stack's trainer image
    pool: PoolFacts
    provider: k8s.Provider
    depends_on: list[pulumi.Resource]
    volume: VolumeConfig | None = None
    service_account: str | None = None
    artifacts_bucket: pulumi.Input[str] | None = None
    identity: pulumi.Input[str] | None = None


class ServingJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:serving:ServingJob", name, None, opts)
        manifest = pulumi.Output.all(
            args.config.image or args.image,
            args.fetch_image,
            args.artifacts_bucket,
            args.identity,
        ).apply(
            lambda v: render_deployment(
                name,
                args.config,
                ServingTarget(
                    args.namespace,
                    v[0],
                    v[1],
                    args.pool,
                    args.volume,
                    args.service_account,
                    v[2],
                    v[3],
                ),
            )
        )
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=args.depends_on
        )
        self.deployment = k8s.apps.v1.Deployment(
            name, metadata=manifest["metadata"], spec=manifest["spec"], opts=k8s_opts
        )
        service = render_service(name, args.namespace)
        self.service = k8s.core.v1.Service(
            name, metadata=service["metadata"], spec=service["spec"], opts=k8s_opts
        )
        self.register_outputs({"service": f"{args.namespace}/{name}"})
