"""One test per trick of the offline harness (docs/offline-testing.md: the SDK pin).

Each test runs a tiny inline Pulumi program under ``trainstack.offline.run_program`` and asserts on
what the mock engine captured: values, parents, providers, secrecy.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s
import pytest

from trainstack.offline import (
    ACCOUNT_ID,
    OfflineMockError,
    StackFileError,
    is_secret,
    load_stack_config,
    mask_secrets,
    run_program,
    unwrap_secrets,
)
from trainstack.offline.sdk import (
    PULUMI_VERSION,
    SUPPORTED_PULUMI,
    OfflineHarnessError,
    check_sdk_version,
)

BASE_CONFIG = {"aws:region": "us-west-2"}
STACK_URN = "urn:pulumi:dev::trainstack::pulumi:pulumi:Stack::trainstack-dev"


def _run(program, **kwargs):
    kwargs.setdefault("config", BASE_CONFIG)
    return run_program(program, **kwargs)


# ------------------------------------------------------------------------------------------------
# Custom resources and local components
# ------------------------------------------------------------------------------------------------


def test_sdk_version_is_pinned():
    assert tuple(int(p) for p in PULUMI_VERSION.split(".")[:2]) == SUPPORTED_PULUMI
    assert check_sdk_version("3.272.9") == "3.272.9"
    with pytest.raises(OfflineHarnessError, match="supports pulumi 3.272.x only, found 3.273.0"):
        check_sdk_version("3.273.0")


def test_custom_resources_echo_inputs_with_fake_id_arn_and_name():
    def program():
        role = aws.iam.Role("node-role", assume_role_policy="{}", path="/trainstack/")
        key = aws.kms.Key("secrets", description="envelope key", deletion_window_in_days=7)
        queue = aws.sqs.Queue("interruption", message_retention_seconds=300)
        pulumi.export("roleArn", role.arn)
        pulumi.export("roleName", role.name)
        pulumi.export("keyArn", key.arn)
        pulumi.export("keyId", key.key_id)
        pulumi.export("queueUrl", queue.url)
        pulumi.export("queueArn", queue.arn)

    plan = _run(program)

    role = plan.one("aws:iam/role:Role", "node-role")
    assert role.custom and not role.remote
    assert role.parent == STACK_URN == plan.stack_urn
    assert role.provider is None  # default provider
    assert role.inputs == {"assumeRolePolicy": "{}", "path": "/trainstack/"}
    assert plan.outputs["roleName"] == "node-role"
    assert plan.outputs["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/trainstack/node-role"
    # What the mock answered is kept apart from the inputs.
    assert role.id == "node-role"
    assert role.state["arn"] == plan.outputs["roleArn"]

    key = plan.one("aws:kms/key:Key")
    assert key.inputs["deletionWindowInDays"] == 7  # numbers come back as floats: compare with ==
    assert (
        plan.outputs["keyArn"] == f"arn:aws:kms:us-west-2:{ACCOUNT_ID}:key/{plan.outputs['keyId']}"
    )

    assert plan.outputs["queueUrl"] == (
        f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT_ID}/interruption"
    )
    assert plan.outputs["queueArn"] == f"arn:aws:sqs:us-west-2:{ACCOUNT_ID}:interruption"


def test_vpc_and_subnet_ids_look_real():
    def program():
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        subnet = aws.ec2.Subnet(
            "private-a", vpc_id=vpc.id, cidr_block="10.0.0.0/20", availability_zone="us-west-2b"
        )
        pulumi.export("vpcId", vpc.id)
        pulumi.export("subnetId", subnet.id)
        pulumi.export("subnetAzId", subnet.availability_zone_id)

    plan = _run(program)
    assert plan.outputs["vpcId"].startswith("vpc-")
    assert plan.outputs["subnetId"].startswith("subnet-")
    assert plan.outputs["subnetAzId"] == "usw2-az2"
    # A resource's ID flows into another resource's inputs.
    subnet = plan.one("aws:ec2/subnet:Subnet")
    assert subnet.inputs["vpcId"] == plan.outputs["vpcId"]
    assert subnet.dependencies == [plan.one("aws:ec2/vpc:Vpc").urn]
    assert subnet.urn == "urn:pulumi:dev::trainstack::aws:ec2/subnet:Subnet::private-a"


def test_get_reads_an_existing_resource():
    def program():
        vpc = aws.ec2.Vpc.get("shared", "vpc-0123456789abcdef0")
        pulumi.export("vpcArn", vpc.arn)

    plan = _run(program)
    read = plan.one("aws:ec2/vpc:Vpc", "shared")
    assert read.custom and read.read_id == "vpc-0123456789abcdef0"
    assert plan.outputs["vpcArn"] == (
        f"arn:aws:ec2:us-west-2:{ACCOUNT_ID}:vpc/vpc-0123456789abcdef0"
    )


class _Storage(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:test:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(f"{name}-key", opts=child)
        self.repo = aws.ecr.Repository(f"{name}-repo", opts=child)
        self.register_outputs({"keyArn": self.key.arn})


def test_local_component_and_children_are_captured_with_parents():
    def program():
        outer = _Storage("ckpt")
        _Storage("inner", opts=pulumi.ResourceOptions(parent=outer))

    plan = _run(program)
    comp = plan.one("trainstack:test:Storage", "ckpt")
    assert not comp.custom and not comp.remote
    assert comp.parent == STACK_URN
    assert comp.urn == "urn:pulumi:dev::trainstack::trainstack:test:Storage::ckpt"
    assert plan.one("aws:kms/key:Key", "inner-key").urn == (
        "urn:pulumi:dev::trainstack::trainstack:test:Storage$trainstack:test:Storage"
        "$aws:kms/key:Key::inner-key"
    )

    kids = {(r.type, r.name) for r in plan.children_of(comp.urn)}
    assert kids == {
        ("aws:kms/key:Key", "ckpt-key"),
        ("aws:ecr/repository:Repository", "ckpt-repo"),
        ("trainstack:test:Storage", "inner"),
    }
    inner = plan.one("trainstack:test:Storage", "inner")
    assert {r.name for r in plan.children_of(inner.urn)} == {"inner-key", "inner-repo"}
    assert len(plan.descendants_of(comp.urn)) == 5

    with pytest.raises(LookupError, match="inner-key"):
        plan.one("aws:kms/key:Key")  # two of them: the message lists what exists
    with pytest.raises(LookupError, match="types present"):
        plan.one("aws:sqs/queue:Queue")


# ------------------------------------------------------------------------------------------------
# Remote components (pulumi-eks, kubernetes)
# ------------------------------------------------------------------------------------------------


def _cluster_program(export_kubeconfig_call: bool = False):
    def program():
        role = aws.iam.Role("gpu-node", assume_role_policy="{}")
        cluster = eks.Cluster(
            "cluster", name="trainstack-dev", version="1.34", skip_default_node_group=True
        )
        node_group = eks.ManagedNodeGroup(
            "gpu",
            cluster=cluster,
            node_role=role,
            instance_types=["g5.xlarge"],
            scaling_config={"min_size": 0, "desired_size": 0, "max_size": 2},
        )
        pulumi.export("nodeGroupArn", node_group.node_group.arn)
        pulumi.export("nodeRoleArn", node_group.node_group.node_role_arn)
        # Pitfall 1: a component output that is a resource reference.
        aws.sqs.Queue("interruption", name=cluster.eks_cluster.name.apply(lambda n: f"{n}-q"))
        pulumi.export("clusterName", cluster.eks_cluster.name)
        pulumi.export("endpoint", cluster.eks_cluster.endpoint)
        pulumi.export("oidcArn", cluster.oidc_provider_arn)
        pulumi.export("kubeconfigJson", cluster.kubeconfig_json)
        if export_kubeconfig_call:
            # Pitfall 3: a method call on a remote component.
            pulumi.export("viaCall", cluster.get_kubeconfig(profile_name="training"))

    return program


def test_eks_cluster_is_one_registration_with_faked_outputs():
    plan = _run(_cluster_program())
    cluster = plan.one("eks:index:Cluster", "cluster")
    assert not cluster.custom and cluster.remote
    # Pitfall 4: component inputs are what was given, never echoed outputs.
    assert cluster.inputs == {
        "name": "trainstack-dev",
        "version": "1.34",
        "skipDefaultNodeGroup": True,
    }
    # Its children (the aws:eks/cluster:Cluster) are not part of the plan.
    assert plan.of_type("aws:eks/cluster:Cluster") == []

    assert plan.outputs["clusterName"] == "trainstack-dev"
    assert plan.outputs["endpoint"].endswith(".gr7.us-west-2.eks.amazonaws.com")
    assert plan.outputs["oidcArn"].startswith(
        f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/"
    )
    kubeconfig = json.loads(plan.outputs["kubeconfigJson"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == plan.outputs["endpoint"]
    assert "trainstack-dev" in kubeconfig["users"][0]["user"]["exec"]["args"]


def test_reading_eks_cluster_name_into_another_resource():
    plan = _run(_cluster_program())
    queue = plan.one("aws:sqs/queue:Queue", "interruption")
    assert queue.inputs["name"] == "trainstack-dev-q"


def test_resources_passed_to_a_remote_component_arrive_as_urns():
    plan = _run(_cluster_program())
    ng = plan.one("eks:index:ManagedNodeGroup", "gpu")
    cluster = plan.one("eks:index:Cluster")
    role = plan.one("aws:iam/role:Role", "gpu-node")
    assert ng.inputs["cluster"] == cluster.urn
    assert ng.inputs["nodeRole"] == role.urn
    assert ng.inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    # The faked nodeGroup reference resolves, with the cluster's name in its ARN.
    assert plan.outputs["nodeGroupArn"].startswith(
        f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:nodegroup/trainstack-dev/gpu/"
    )
    assert plan.outputs["nodeRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/gpu-node"


def test_method_call_on_remote_component_routes_to_mocks():
    plan = _run(_cluster_program(export_kubeconfig_call=True))
    via_call = json.loads(plan.outputs["viaCall"])
    exec_ = via_call["users"][0]["user"]["exec"]
    assert {"name": "AWS_PROFILE", "value": "training"} in exec_["env"]
    assert "trainstack-dev" in exec_["args"]


def test_k8s_provider_from_kubeconfig_used_by_release_and_custom_resource():
    def program():
        cluster = eks.Cluster("cluster", name="trainstack-dev")
        provider = k8s.Provider("k8s", kubeconfig=cluster.kubeconfig_json)
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.helm.v3.Release(
            "karpenter",
            chart="oci://public.ecr.aws/karpenter/karpenter",
            version="1.14.0",
            namespace="kube-system",
            values={"settings": {"clusterName": cluster.eks_cluster.name}},
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            "smoke",
            api_version="kubeflow.org/v1",
            kind="PyTorchJob",
            metadata={"namespace": "training"},
            spec={"pytorchReplicaSpecs": {"Worker": {"replicas": 2}}},
            opts=opts,
        )

    plan = _run(program)
    provider = plan.one("pulumi:providers:kubernetes", "k8s")
    assert provider.custom
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["current-context"] == "aws"

    release = plan.one("kubernetes:helm.sh/v3:Release", "karpenter")
    assert release.provider == provider.urn
    assert release.inputs["values"] == {"settings": {"clusterName": "trainstack-dev"}}

    job = plan.one("kubernetes:kubeflow.org/v1:PyTorchJob", "smoke")
    assert job.custom and job.provider == provider.urn
    assert job.inputs["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    assert job.inputs["metadata"] == {"namespace": "training"}


def test_remote_kubernetes_components_do_not_echo_inputs():
    def program():
        chart = k8s.helm.v4.Chart(
            "nvidia",
            chart="nvidia-device-plugin",
            version="0.20.0",
            repository_opts={"repo": "https://nvidia.github.io/k8s-device-plugin"},
        )
        pulumi.export("resources", chart.resources)

    plan = _run(program)
    chart = plan.one("kubernetes:helm.sh/v4:Chart", "nvidia")
    assert chart.remote and not chart.custom
    assert chart.inputs["version"] == "0.20.0"
    assert plan.outputs.get("resources") is None


# ------------------------------------------------------------------------------------------------
# Config and secrets
# ------------------------------------------------------------------------------------------------


def test_secret_config_value_reaches_input_still_secret():
    def program():
        cfg = pulumi.Config()
        aws.sqs.Queue("with-token", tags={"token": cfg.require_secret("hfToken")})
        aws.sqs.Queue("team", tags={"team": cfg.require("team")})
        pulumi.export("token", cfg.require_secret("hfToken"))
        pulumi.export("team", cfg.require("team"))

    plan = _run(
        program,
        config={**BASE_CONFIG, "trainstack:hfToken": "hf_abc", "trainstack:team": "ml"},
        secret_keys=["trainstack:hfToken"],
    )
    queue = plan.one("aws:sqs/queue:Queue", "with-token")
    # The SDK pushes secretness up to the top-level input: the whole `tags` map is secret.
    assert is_secret(queue.inputs["tags"])
    assert unwrap_secrets(queue.inputs) == {"tags": {"token": "hf_abc"}}
    assert queue.plain_inputs["tags"]["token"] == "hf_abc"
    assert mask_secrets(queue.inputs) == {"tags": "[secret]"}
    assert plan.one("aws:sqs/queue:Queue", "team").inputs == {"tags": {"team": "ml"}}

    assert plan.outputs == {"token": "hf_abc", "team": "ml"}
    assert plan.secret_outputs == {"token"}
    assert plan.masked_outputs == {"token": "[secret]", "team": "ml"}


def test_structured_config_from_stack_file_reaches_program(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          aws:region: eu-west-1
          trainstack:nodeGroups:
            gpu-g5: {instanceTypes: [g5.xlarge], maxSize: 2}
          spot: true
          mode: on
        """)
    )
    sc = load_stack_config(tmp_path, "dev")

    def program():
        cfg = pulumi.Config()
        groups = cfg.require_object("nodeGroups")
        pulumi.export("maxSize", groups["gpu-g5"]["maxSize"])
        pulumi.export("spot", cfg.require_bool("spot"))
        pulumi.export("mode", cfg.require("mode"))
        pulumi.export("region", aws.get_region().region)

    plan = run_program(program, config=sc.config, secret_keys=sc.secret_keys)
    assert plan.outputs == {"maxSize": 2, "spot": True, "mode": "on", "region": "eu-west-1"}


def test_stack_file_encoding(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        encryptionsalt: v1:abc
        config:
          aws:region: us-west-2
          trainstack:cluster:
            name: trainstack-dev
            endpoint: {public: true, cidrs: ["203.0.113.0/24"]}
          retentionDays: 30
          enabled: false
          answer: yes
        """)
    )
    sc = load_stack_config(tmp_path, "dev")
    assert sc.path == tmp_path / "Pulumi.dev.yaml"
    assert sc.secret_keys == []
    assert sc.config == {
        "aws:region": "us-west-2",
        "trainstack:cluster": (
            '{"endpoint":{"cidrs":["203.0.113.0/24"],"public":true},"name":"trainstack-dev"}'
        ),
        "trainstack:retentionDays": "30",
        "trainstack:enabled": "false",
        "trainstack:answer": "yes",  # YAML 1.2, like the CLI: not a boolean
    }


def test_secure_values_are_placeholdered_and_secret(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          trainstack:hfToken:
            secure: AAABAKz1cGxhY2Vob2xkZXI=
          trainstack:registry:
            user: bot
            password:
              secure: AAABAHBhc3N3b3Jk
          aws:region: us-west-2
        """)
    )
    sc = load_stack_config(tmp_path, "dev")
    assert sc.config["trainstack:hfToken"] == "offline-secret-hfToken"
    assert json.loads(sc.config["trainstack:registry"]) == {
        "user": "bot",
        "password": "offline-secret-registry.password",
    }
    assert sorted(sc.secret_keys) == ["trainstack:hfToken", "trainstack:registry"]

    def program():
        cfg = pulumi.Config()
        aws.ssm.Parameter("registry", type="SecureString", value=cfg.require("registry"))

    plan = run_program(program, config=sc.config, secret_keys=sc.secret_keys)
    value = plan.one("aws:ssm/parameter:Parameter").inputs["value"]
    assert is_secret(value)
    assert json.loads(unwrap_secrets(value))["password"] == "offline-secret-registry.password"


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          aws:region: us-west-2
          trainstack:nodeGroups:
            gpu-g5:
              maxSize: 2
            gpu-g4dn:
              maxSize: 1
            gpu-g5:
              maxSize: 8
        """)
    )
    with pytest.raises(StackFileError) as err:
        load_stack_config(tmp_path, "dev")
    msg = str(err.value)
    assert "Pulumi.dev.yaml" in msg
    assert "trainstack:nodeGroups.gpu-g5" in msg
    assert "line 8" in msg and "line 4" in msg


def test_duplicate_after_namespacing_and_nested_in_lists(tmp_path: Path):
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  cluster: x\n  trainstack:cluster: y\n")
    with pytest.raises(StackFileError, match="trainstack:cluster"):
        load_stack_config(tmp_path, "a")
    (tmp_path / "Pulumi.b.yaml").write_text(
        "config:\n  trainstack:pools:\n    - name: a\n      name: b\n"
    )
    with pytest.raises(StackFileError, match=r"trainstack:pools\[0\]\.name.*line 4"):
        load_stack_config(tmp_path, "b")


def test_missing_stack_file_lists_existing_stacks(tmp_path: Path):
    for stack in ("dev", "efa"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    with pytest.raises(StackFileError) as err:
        load_stack_config(tmp_path, "prod")
    msg = str(err.value)
    assert "Pulumi.prod.yaml" in msg and "dev, efa" in msg


# ------------------------------------------------------------------------------------------------
# Invokes
# ------------------------------------------------------------------------------------------------


def test_get_policy_document_builds_real_iam_json():
    def program():
        doc = aws.iam.get_policy_document(
            statements=[
                {
                    "sid": "PodIdentity",
                    "actions": ["sts:AssumeRole", "sts:TagSession"],
                    "principals": [{"type": "Service", "identifiers": ["pods.eks.amazonaws.com"]}],
                },
                {
                    "sid": "TlsOnly",
                    "effect": "Deny",
                    "actions": ["sqs:*"],
                    "resources": ["arn:aws:sqs:us-west-2:123456789012:q"],
                    "principals": [{"type": "*", "identifiers": ["*"]}],
                    "conditions": [
                        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
                    ],
                },
            ]
        )
        aws.iam.Role("karpenter", assume_role_policy=doc.json)

    plan = _run(program)
    policy = json.loads(plan.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PodIdentity",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Principal": {"Service": "pods.eks.amazonaws.com"},
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": "arn:aws:sqs:us-west-2:123456789012:q",
                "Principal": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def test_account_partition_region_zones_and_ssm():
    def program():
        ident = aws.get_caller_identity()
        part = aws.get_partition()
        zones = aws.get_availability_zones(state="available")
        ami = aws.ssm.get_parameter(
            name="/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
        )
        pulumi.export("account", ident.account_id)
        pulumi.export("dns", part.dns_suffix)
        pulumi.export("zones", zones.names)
        pulumi.export("zoneIds", zones.zone_ids)
        pulumi.export("ami", ami.value)
        pulumi.export("region", aws.get_region_output().region)

    plan = _run(program, az_names=["us-west-2a", "us-west-2c"])
    assert plan.outputs["account"] == ACCOUNT_ID
    assert plan.outputs["dns"] == "amazonaws.com"
    assert plan.outputs["zones"] == ["us-west-2a", "us-west-2c"]
    assert plan.outputs["zoneIds"] == ["usw2-az1", "usw2-az2"]
    assert plan.outputs["ami"].startswith("ami-")
    assert plan.outputs["region"] == "us-west-2"


def test_unknown_invoke_fails_loudly():
    def program():
        aws.ec2.get_ami(most_recent=True, owners=["amazon"])

    with pytest.raises(OfflineMockError, match="aws:ec2/getAmi:getAmi"):
        _run(program)


# ------------------------------------------------------------------------------------------------
# Isolation and errors
# ------------------------------------------------------------------------------------------------


class ConfigProblem(ValueError):
    pass


def test_program_exception_propagates_unchanged():
    def program():
        aws.kms.Key("before-error")
        raise ConfigProblem("nodeGroups.gpu-g5.maxSize must be >= minSize")

    with pytest.raises(ConfigProblem, match="maxSize must be >= minSize") as err:
        _run(program)
    assert type(err.value) is ConfigProblem

    # The next run is clean: no leftover root stack, config or registrations.
    plan = _run(lambda: pulumi.export("ok", True))
    assert plan.outputs == {"ok": True}
    assert plan.resources == []


def test_consecutive_runs_do_not_leak_exports_or_config():
    def first():
        pulumi.export("first", aws.kms.Key("k1").arn)
        pulumi.export("secretCfg", pulumi.Config().require_secret("x"))

    def second():
        aws.kms.Key("k2")
        pulumi.export("second", 2)
        pulumi.export("x", pulumi.Config().get("x", "unset"))

    plan1 = _run(first, config={**BASE_CONFIG, "trainstack:x": "one"}, secret_keys=["trainstack:x"])
    plan2 = _run(second)
    assert set(plan1.outputs) == {"first", "secretCfg"}
    assert plan1.secret_outputs == {"secretCfg"}
    assert plan2.outputs == {"second": 2, "x": "unset"}
    assert plan2.secret_outputs == set()
    assert [r.name for r in plan2.resources] == ["k2"]


def test_project_and_stack_names_shape_urns():
    plan = _run(lambda: pulumi.export("stack", pulumi.get_stack()), project="other", stack="efa")
    assert plan.outputs == {"stack": "efa"}
    assert plan.stack_urn == "urn:pulumi:efa::other::pulumi:pulumi:Stack::other-efa"


def test_legacy_transformations_run_under_mocks():
    # Pitfall 8: legacy `transformations` run; new-style `transforms` do not (test those directly).
    def tag_everything(args: pulumi.ResourceTransformationArgs):
        if args.type_ == "aws:sqs/queue:Queue":
            args.props["tags"] = {"team": "ml"}
            return pulumi.ResourceTransformationResult(args.props, args.opts)
        return None

    def program():
        aws.sqs.Queue("q", opts=pulumi.ResourceOptions(transformations=[tag_everything]))

    plan = _run(program)
    assert plan.one("aws:sqs/queue:Queue").inputs["tags"] == {"team": "ml"}


# ------------------------------------------------------------------------------------------------
# Dynamic resources
# ------------------------------------------------------------------------------------------------


def test_image_build_dynamic_resource_gets_a_finished_builds_outputs():
    from components.image_build import ImageBuild, ImageBuildArgs

    source_hash = "ab" * 32
    url = f"{ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev/trainer"

    def program():
        repo = aws.ecr.Repository("repo", name="trainstack-dev/trainer")
        build = ImageBuild(
            "build",
            ImageBuildArgs(
                project_name="trainstack-dev-trainer",
                bucket="src-bucket",
                repository_name=repo.name,
                repository_url=repo.repository_url,
                region="us-west-2",
                source_root="/src",
                source_hash=source_hash,
                max_attempts=3,
                timeout_minutes=60,
            ),
        )
        pulumi.export("image", build.image)
        pulumi.export("tag", build.tag)

    plan = _run(program)
    build = plan.one("pulumi-python:dynamic:Resource", "build")
    assert build.custom
    digest = build.state["digest"]
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert build.state["tag"] == "src-abababababab"
    assert build.state["image"] == f"{url}@{digest}" == plan.outputs["image"]
    project, _, build_uuid = build.state["build_id"].partition(":")
    assert project == "trainstack-dev-trainer" and len(build_uuid) == 36
    assert plan.outputs["tag"] == "src-abababababab"
    # The repository's outputs reached the build as inputs.
    assert build.inputs["repository_url"] == url
    assert build.inputs["source_hash"] == source_hash
    # The pickled provider is kept as a short fingerprint, not as a base64 blob.
    assert build.inputs["__provider"].startswith("[serialized provider sha256:")
    assert "__provider" not in build.state

    # Deterministic: the same source gives the same digest; another source another one.
    assert _run(program).one("pulumi-python:dynamic:Resource").state["digest"] == digest
    source_hash = "cd" * 32
    assert _run(program).one("pulumi-python:dynamic:Resource").state["digest"] != digest
