"""Security rules of the pack: the Pod Security Standards "restricted" profile over every pod
template the stack writes, the device plugins' exception, IMDS hop limit, IAM wildcards,
encryption at rest, and stack config that agrees with what the pack requires."""

import copy
import json

import pytest
from support import project_copy, stack_data
from test_platform import plan

from components import cluster, config, karpenter
from policies import BY_NAME, MANDATORY, check_plan, required
from policies.rules import pod_security
from trainstack import cli

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev/trainer@sha256:" + "ab" * 32
POD = "kubernetes:core/v1:Pod"
PTJ = "kubernetes:kubeflow.org/v1:PyTorchJob"
RAYJOB = "kubernetes:ray.io/v1:RayJob"
DS = "kubernetes:apps/v1:DaemonSet"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
RESTRICTED = [
    r.name for r in pod_security.RULES if r.name != "privileged-exception-device-plugins-only"
]

# A container and pod meeting the restricted profile, as the hardened pods will render them.
SAFE_CONTAINER = {
    "name": "main",
    "image": IMAGE,
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    },
}
SAFE_POD_SC = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def spec(container=None, pod_sc=None, **extra):
    """A restricted pod spec; `container` is merged over the safe container's securityContext
    (a key set to None is removed), `pod_sc` over the safe pod securityContext."""
    c = copy.deepcopy(SAFE_CONTAINER)
    for k, v in (container or {}).items():
        if k == "securityContext":
            for sk, sv in v.items():
                if sv is None:
                    c[k].pop(sk, None)
                else:
                    c[k][sk] = sv
        else:
            c[k] = v
    sc = {**SAFE_POD_SC, **(pod_sc or {})}
    sc = {k: v for k, v in sc.items() if v is not None}
    return {
        "securityContext": sc,
        "containers": [c],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        **extra,
    }


def pod(container=None, pod_sc=None, meta=None, **extra):
    return {
        "metadata": {"name": "p", "namespace": "training", **(meta or {})},
        "spec": spec(container, pod_sc, **extra),
    }


def job(container=None, pod_sc=None, **extra):
    """A PyTorchJob whose Worker replica is the pod under test (the Master stays compliant)."""
    return {
        "metadata": {"name": "j", "namespace": "training"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"template": {"spec": spec()}},
                "Worker": {"template": {"metadata": {}, "spec": spec(container, pod_sc, **extra)}},
            }
        },
    }


def rayjob(where: str, pod_spec: dict) -> dict:
    """A RayJob whose head, a worker group or the submitter carries `pod_spec`."""
    head = {"template": {"spec": spec()}}
    workers = [{"groupName": "gpu", "template": {"spec": spec()}}]
    submitter = {"spec": spec()}
    if where == "head":
        head = {"template": {"spec": pod_spec}}
    elif where == "worker":
        workers.append({"groupName": "cpu", "template": {"spec": pod_spec}})
    else:
        submitter = {"spec": pod_spec}
    return {
        "metadata": {"name": "r", "namespace": "training"},
        "spec": {
            "rayClusterSpec": {"headGroupSpec": head, "workerGroupSpecs": workers},
            "submitterPodTemplate": submitter,
        },
    }


def plugin(name="nvidia-device-plugin", namespace="kube-system", type_=DS):
    privileged = spec(
        {"securityContext": {"privileged": True}},
        volumes=[{"name": "dev", "hostPath": {"path": "/var/lib/kubelet"}}],
    )
    body = {"template": {"spec": privileged}}
    if type_ == POD:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": privileged}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": body}


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# (rule, type, violating props, compliant props): every rule this file adds.
SECURITY_CASES = [
    (
        "no-privileged-containers",
        PTJ,
        job({"securityContext": {"privileged": True}}),
        job({"securityContext": {"privileged": False}}),
    ),
    ("no-privileged-containers", DS, plugin("debug"), plugin()),
    (
        "pod-capabilities-restricted",
        POD,
        pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}}),
        pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}),
    ),
    (
        "pod-no-privilege-escalation",
        POD,
        pod({"securityContext": {"allowPrivilegeEscalation": None}}),
        pod(),
    ),
    (
        "pod-run-as-non-root",
        PTJ,
        job(pod_sc={"runAsNonRoot": None}),
        job(pod_sc={"runAsNonRoot": None}, container={"securityContext": {"runAsNonRoot": True}}),
    ),
    ("pod-run-as-non-root-user", POD, pod(pod_sc={"runAsUser": 0.0}), pod()),
    (
        "pod-seccomp-restricted",
        RAYJOB,
        rayjob("worker", spec(pod_sc={"seccompProfile": None})),
        rayjob(
            "worker",
            spec(
                pod_sc={"seccompProfile": None},
                container={
                    "securityContext": {
                        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
                    }
                },
            ),
        ),
    ),
    ("no-host-namespaces", POD, pod(hostNetwork=True), pod(hostNetwork=False)),
    (
        "pod-no-host-ports",
        POD,
        pod({"ports": [{"containerPort": 29500, "hostPort": 29500}]}),
        pod({"ports": [{"containerPort": 29500}]}),
    ),
    (
        "no-host-path-volumes",
        POD,
        pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        pod(volumes=[{"name": "shm", "emptyDir": {"medium": "Memory"}}]),
    ),
    (
        "pod-volume-types-restricted",
        POD,
        pod(volumes=[{"name": "n", "nfs": {"server": "fs", "path": "/"}}]),
        pod(
            volumes=[
                {"name": "c", "persistentVolumeClaim": {"claimName": "checkpoints"}},
                {"name": "k", "projected": {"sources": []}},
            ]
        ),
    ),
    (
        "pod-apparmor-default",
        POD,
        pod(pod_sc={"appArmorProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"appArmorProfile": {"type": "RuntimeDefault"}}),
    ),
    (
        "pod-selinux-default",
        POD,
        pod({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
        pod({"securityContext": {"seLinuxOptions": {"type": "container_t", "level": "s0:c1"}}}),
    ),
    (
        "pod-proc-mount-default",
        POD,
        pod({"securityContext": {"procMount": "Unmasked"}}),
        pod({"securityContext": {"procMount": "Default"}}),
    ),
    (
        "pod-sysctls-safe",
        POD,
        pod(pod_sc={"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}),
        pod(pod_sc={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]}),
    ),
    ("privileged-exception-device-plugins-only", DS, plugin(namespace="training"), plugin()),
    (
        "imds-hop-limit",
        LT,
        {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}},
        {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0}},
    ),
    (
        "imds-hop-limit",
        NODECLASS,
        {"spec": {"metadataOptions": {"httpTokens": "required"}}},
        {"spec": {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}},
    ),
    (
        "iam-no-wildcard-grants",
        ROLE_POLICY,
        {"role": "r", "policy": policy(allow("s3:*"))},
        {
            "role": "r",
            "policy": policy(
                allow("ecr:GetAuthorizationToken"), allow("s3:*", "arn:aws:s3:::bucket/*")
            ),
        },
    ),
    (
        "iam-no-wildcard-grants",
        ROLE,
        {"name": "r", "inlinePolicies": [{"name": "p", "policy": policy(allow("*"))}]},
        {"name": "r", "inlinePolicies": [{"name": "p", "policy": policy(allow("s3:GetObject"))}]},
    ),
    ("efs-encrypted", "aws:efs/fileSystem:FileSystem", {"encrypted": False}, {"encrypted": True}),
    (
        "fsx-lustre-customer-key",
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        {"deploymentType": "PERSISTENT_2", "storageCapacity": 1200},
        {"deploymentType": "PERSISTENT_2", "kmsKeyId": "arn:aws:kms:us-west-2:1:key/k"},
    ),
    ("ebs-volumes-encrypted", "aws:ebs/volume:Volume", {"size": 10}, {"encrypted": True}),
    (
        "storageclass-ebs-encrypted",
        SC,
        {
            "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3"},
        },
        {
            "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3", "encrypted": "true"},
        },
    ),
]


@pytest.mark.parametrize(
    "name,type_,bad,good",
    SECURITY_CASES,
    ids=[f"{c[0]}:{c[1].split(':')[-1]}" for c in SECURITY_CASES],
)
def test_security_rule_flags_the_violation_and_passes_the_fix(name, type_, bad, good):
    rule = BY_NAME[name]
    found = rule(type_, bad)
    assert found and all(": " in m for m in found), found
    assert rule(type_, good) == []


# ------------------------------------------------------------------ Pod Security, restricted


def _restricted_violations(type_, props):
    return {n: BY_NAME[n](type_, props) for n in RESTRICTED if BY_NAME[n](type_, props)}


@pytest.mark.parametrize(
    "type_,props",
    [
        (POD, pod()),
        (PTJ, job()),
        (RAYJOB, rayjob("head", spec())),
        (DS, {"metadata": {"name": "x"}, "spec": {"template": {"spec": spec()}}}),
    ],
)
def test_compliant_pod_templates_pass_every_restricted_rule(type_, props):
    assert _restricted_violations(type_, props) == {}


@pytest.mark.parametrize("where", ["head", "worker", "submitter"])
def test_every_rayjob_pod_template_is_checked(where):
    bad = spec({"securityContext": {"allowPrivilegeEscalation": True}})
    found = BY_NAME["pod-no-privilege-escalation"](RAYJOB, rayjob(where, bad))
    assert len(found) == 1
    assert {
        "head": "headGroupSpec",
        "worker": "workerGroupSpecs[1]",
        "submitter": "submitterPodTemplate",
    }[where] in found[0]


@pytest.mark.parametrize("cap", ["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"])
def test_every_added_capability_but_net_bind_service_is_caught(cap):
    found = BY_NAME["pod-capabilities-restricted"](
        POD, pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": [cap]}}})
    )
    assert len(found) == 1 and cap in found[0] and "containers[main]" in found[0]


def test_capabilities_must_drop_all():
    found = BY_NAME["pod-capabilities-restricted"](
        POD, pod({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}})
    )
    assert found == [
        "spec.containers[main] does not drop all capabilities: set "
        "securityContext.capabilities.drop: [ALL]"
    ]


def test_init_and_ephemeral_containers_are_checked_too():
    props = pod(initContainers=[{"name": "setup", "image": IMAGE}])
    found = _restricted_violations(POD, props)
    assert set(found) == {"pod-capabilities-restricted", "pod-no-privilege-escalation"}
    assert all("initContainers[setup]" in m for ms in found.values() for m in ms)


def test_pod_level_settings_are_inherited_and_container_overrides_still_count():
    # runAsNonRoot and seccomp at pod level cover every container...
    assert BY_NAME["pod-run-as-non-root"](POD, pod()) == []
    assert BY_NAME["pod-seccomp-restricted"](POD, pod()) == []
    # ...but a container turning them off is caught, as is the pod turning them off.
    assert BY_NAME["pod-run-as-non-root"](POD, pod({"securityContext": {"runAsNonRoot": False}}))
    assert BY_NAME["pod-run-as-non-root"](POD, pod(pod_sc={"runAsNonRoot": False}))
    off = pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}}})
    assert "Unconfined" in BY_NAME["pod-seccomp-restricted"](POD, off)[0]
    assert BY_NAME["pod-seccomp-restricted"](POD, pod(pod_sc={"seccompProfile": None}))
    root = pod({"securityContext": {"runAsUser": 0}})
    assert "containers[main]" in BY_NAME["pod-run-as-non-root-user"](POD, root)[0]


def test_host_probes_and_unsafe_annotations_are_caught():
    probe = {"livenessProbe": {"httpGet": {"host": "169.254.169.254", "path": "/", "port": 80}}}
    assert "livenessProbe.httpGet.host" in BY_NAME["pod-no-host-ports"](POD, pod(probe))[0]
    annotated = pod(
        meta={"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}}
    )
    assert BY_NAME["pod-apparmor-default"](POD, annotated)
    assert BY_NAME["pod-selinux-default"](POD, pod(pod_sc={"seLinuxOptions": {"user": "u"}}))


# ----------------------------------------------------------------- the device plugins' exception


def test_device_plugins_in_kube_system_are_exempt_from_every_restricted_rule():
    assert _restricted_violations(DS, plugin()) == {}
    assert _restricted_violations(DS, plugin("aws-efa-k8s-device-plugin")) == {}
    assert BY_NAME["privileged-exception-device-plugins-only"](DS, plugin()) == []


@pytest.mark.parametrize(
    "props,type_,why",
    [
        (plugin(namespace="training"), DS, "namespace training"),
        (plugin(type_=POD, namespace="training"), POD, "borrows"),
        (plugin(namespace="kube-system", type_=POD), POD, "never get host access"),
    ],
)
def test_the_exception_is_never_borrowed_by_a_job_or_outside_kube_system(props, type_, why):
    # Not exempt: the restricted rules report it...
    assert {"no-privileged-containers", "no-host-path-volumes"} <= set(
        _restricted_violations(type_, props)
    )
    # ...and the allow-list check says why the name did not earn the exception.
    found = BY_NAME["privileged-exception-device-plugins-only"](type_, props)
    assert any(why in m for m in found), found


def test_a_job_named_like_a_device_plugin_gets_no_exception():
    props = job({"securityContext": {"privileged": True}})
    props["metadata"]["name"] = "nvidia-device-plugin"
    assert BY_NAME["no-privileged-containers"](PTJ, props)
    assert BY_NAME["privileged-exception-device-plugins-only"](PTJ, props)


def test_allow_list_names_only_device_plugins():
    # The pack's schema refuses any other name, and the rule reports one that got in anyway.
    schema = BY_NAME["no-privileged-containers"].config_schema["privilegedAllowed"]
    assert set(schema["items"]["enum"]) == set(pod_security.DEVICE_PLUGINS)
    assert all("device-plugin" in n for n in pod_security.DEVICE_PLUGINS)
    cfg = {"privilegedAllowed": ["debug"]}
    found = BY_NAME["privileged-exception-device-plugins-only"](DS, plugin("debug"), cfg)
    assert found and "is not a device plugin" in found[0]
    assert BY_NAME["no-privileged-containers"](DS, plugin("debug"), cfg)
    # Narrowing the list removes the exception from the plugins left out.
    assert BY_NAME["no-privileged-containers"](DS, plugin(), {"privilegedAllowed": []})


# --------------------------------------------------------------------------- node metadata


def _captured(type_, stack="dev"):
    return copy.deepcopy(plan(stack).plan.of_type(type_)[0].plain_inputs)


def _broken(type_, props):
    return {r.name for r in BY_NAME.values() if r(type_, props)}


@pytest.mark.parametrize(
    "type_,path", [(LT, ("metadataOptions",)), (NODECLASS, ("spec", "metadataOptions"))]
)
def test_captured_node_metadata_with_two_hops_is_caught(type_, path):
    props = _captured(type_)
    before = _broken(type_, props)
    node = props
    for p in path:
        node = node[p]
    node["httpPutResponseHopLimit"] = 2
    assert _broken(type_, props) - before == {"imds-hop-limit"}
    assert "httpPutResponseHopLimit: 1" in BY_NAME["imds-hop-limit"](type_, props)[0]


def test_hop_limit_has_one_source_of_truth():
    assert required.IMDS_HOP_LIMIT == 1
    assert cluster.IMDS_HOP_LIMIT is karpenter.IMDS_HOP_LIMIT is required.IMDS_HOP_LIMIT
    assert BY_NAME["imds-hop-limit"].defaults()["hopLimit"] == required.IMDS_HOP_LIMIT


# --------------------------------------------------------------------------------------- IAM


@pytest.mark.parametrize(
    "statement",
    [
        allow("*"),
        allow(["s3:GetObject", "s3:*"]),
        allow("EC2:*"),
        allow("iam:*", ["*"]),
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "NotResource": "arn:aws:kms:us-west-2:1:key/k"},
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"x": "true"}}},
        # Other spellings of the same grant.
        allow("*:*"),
        allow("iam:**"),
        allow("s3:?*"),
        allow("iam:*", "arn:*"),
        allow("iam:*", "arn:aws:*:*:*:*"),
        allow("*", "arn:*:*"),
    ],
)
def test_wildcard_grants_are_caught_in_every_place_a_policy_lives(statement):
    rule = BY_NAME["iam-no-wildcard-grants"]
    doc = policy(statement)
    assert rule(ROLE_POLICY, {"role": "r", "policy": doc})
    # The provider passes documents as JSON strings.
    assert rule(ROLE_POLICY, {"role": "r", "policy": json.dumps(doc)})
    assert rule(IAM_POLICY, {"name": "p", "policy": doc})
    assert rule(ROLE, {"name": "r", "inlinePolicies": [{"name": "i", "policy": doc}]})


def test_specific_actions_on_star_and_denies_are_not_wildcard_grants():
    rule = BY_NAME["iam-no-wildcard-grants"]
    doc = policy(
        allow("ecr:GetAuthorizationToken"),
        allow("kms:GenerateDataKey*"),
        allow("s3:Get*"),
        allow("s3:*", "arn:aws:s3:::my-bucket/*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    )
    assert rule(ROLE_POLICY, {"role": "r", "policy": doc}) == []


def test_admin_managed_policies_are_caught_and_the_allow_list_works_by_name():
    rule = BY_NAME["iam-no-wildcard-grants"]
    admin = {"role": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert rule(ATTACH, admin)
    assert rule(ATTACH, {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"})
    assert (
        rule(
            ATTACH, {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
        )
        == []
    )
    assert rule(ATTACH, admin, {"wildcardAllowed": ["ops"]}) == []
    # The older attachment resource names its roles in a list.
    many = {"roles": ["ops", "ml"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    found = rule("aws:iam/policyAttachment:PolicyAttachment", many, {"wildcardAllowed": ["ops"]})
    assert len(found) == 1 and found[0].startswith("role ml")
    wild = {"name": "break-glass", "role": "r", "policy": policy(allow("*"))}
    assert rule(ROLE_POLICY, wild, {"wildcardAllowed": ["break-glass"]}) == []
    assert rule(ROLE_POLICY, wild, {"wildcardAllowed": ["other"]})


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_every_policy_the_stack_writes_today_passes(stack):
    resources = plan(stack).plan.resources
    kinds = {r.type for r in resources}
    assert ROLE_POLICY in kinds and ATTACH in kinds  # Karpenter controller, CodeBuild, nodes
    found = [v for v in check_plan(resources) if v.rule == "iam-no-wildcard-grants"]
    assert found == []


def test_captured_karpenter_policy_with_a_wildcard_added_is_caught():
    result = plan("dev")
    props = copy.deepcopy(
        result.plan.one(ROLE_POLICY, "trainstack-karpenter-controller").plain_inputs
    )
    doc = json.loads(props["policy"])
    doc["Statement"].append(allow("ec2:*"))
    props["policy"] = json.dumps(doc)
    assert BY_NAME["iam-no-wildcard-grants"](ROLE_POLICY, props)


# ------------------------------------------------------------------------ encryption at rest


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_storage_the_stack_writes_is_encrypted(stack):
    names = {
        "efs-encrypted",
        "fsx-lustre-customer-key",
        "ebs-volumes-encrypted",
        "storageclass-ebs-encrypted",
        "node-volumes-encrypted",
    }
    assert [v for v in check_plan(plan(stack).plan.resources) if v.rule in names] == []


def test_scratch_fsx_and_efs_storage_classes_pass():
    assert (
        BY_NAME["fsx-lustre-customer-key"](
            "aws:fsx/lustreFileSystem:LustreFileSystem", {"deploymentType": "SCRATCH_2"}
        )
        == []
    )
    efs = {"provisioner": "efs.csi.aws.com", "parameters": {"fileSystemId": "fs-1"}}
    assert BY_NAME["storageclass-ebs-encrypted"](SC, efs) == []
    legacy = {"provisioner": "kubernetes.io/aws-ebs", "parameters": {"encrypted": "false"}}
    assert BY_NAME["storageclass-ebs-encrypted"](SC, legacy)


# -------------------------------------------------------------------- config agrees with pack


def test_log_types_the_pack_requires_are_the_config_default():
    assert BY_NAME["eks-control-plane-logging"].defaults()["requiredLogTypes"] == list(
        required.REQUIRED_LOG_TYPES
    )
    parsed = config.parse(*stack_data("dev"))
    assert set(required.REQUIRED_LOG_TYPES) <= set(parsed.cluster.log_types)


@pytest.mark.parametrize(
    "log_types,missing",
    [
        (["api"], "audit, authenticator"),
        ([], "api, audit, authenticator"),
        (["api", "audit", "scheduler"], "authenticator"),
    ],
)
def test_config_refuses_log_types_the_pack_would_block(log_types, missing):
    data, region = stack_data("dev")
    data["cluster"]["logTypes"] = log_types
    with pytest.raises(
        config.ConfigError,
        match=rf"trainstack:cluster\.logTypes = .*missing "
        rf"{missing}$",
    ):
        config.parse(data, region)


def test_config_accepts_extra_log_types():
    data, region = stack_data("dev")
    data["cluster"]["logTypes"] = ["api", "audit", "authenticator", "scheduler"]
    assert config.parse(data, region).cluster.log_types[-1] == "scheduler"


def test_plan_exits_2_for_log_types_the_pack_would_block(tmp_path, capsys):
    def edit(cfg):
        cfg["trainstack:cluster"]["logTypes"] = ["api"]

    root = project_copy(tmp_path, edit)
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "bad"]) == 2
    assert "trainstack:cluster.logTypes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "env_name", ["OPENAI_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "WANDB_APIKEY"]
)
def test_config_refuses_env_names_the_pack_treats_as_credentials(env_name):
    data, region = stack_data("dev")
    job = next(iter(data["trainingJobs"]))
    data["trainingJobs"][job]["env"] = {env_name: "x"}
    with pytest.raises(
        config.ConfigError,
        match=rf"trainstack:trainingJobs\.{job}\.env\."
        rf"{env_name}: looks like a secret",
    ):
        config.parse(data, region)


def test_the_example_stacks_pods_pass_every_restricted_rule():
    found = {v.rule for v in plan("dev").policy_violations if v.level == MANDATORY}
    assert found == set()
