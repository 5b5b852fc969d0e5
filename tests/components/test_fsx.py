"""FSx for Lustre volumes (components/fsx.py): a `type: fsx` volume gets a file system in its jobs'
zone under the stack's KMS key, the Lustre ports open within the VPC only, the FSx CSI add-on
with Pod Identity, and a static PV its claim binds; the config refuses what CreateFileSystem
would (botocore fsx 2018-03-01 model)."""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import botocore.session
import pytest
from support import assert_rejected_naming_the_key, inputs, plan, stack_data, state
from workload_support import pod_templates

from components import fsx, volume_prepare
from components.config import ConfigError, parse
from components.config.fsx import THROUGHPUTS, valid_capacity
from policies import BY_NAME, MANDATORY
from trainstack.offline import schemas
from trainstack.offline.secrets import unwrap_secrets

FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
SG = "aws:ec2/securityGroup:SecurityGroup"
SUBNET = "aws:ec2/subnet:Subnet"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
# The dev stack's volume made an fsx one (its jobs run on a pool without EFA).
DEV_FSX = {"trainstack:volumes__checkpoints__type": "fsx", "trainstack:volumes__checkpoints__size": "1200Gi"}  # fmt: skip


def _subnet_zone(result, subnet_id: str) -> str:
    subnet = next(s for s in result.plan.of_type(SUBNET) if s.id == subnet_id)
    return unwrap_secrets(subnet.inputs)["availabilityZone"]


def _manifest(result, kind: str, namespace: str = "training") -> dict:
    """The one `kind` object of `namespace` (a Namespace by its name, a PV by its claim's): the
    jobs namespace's, or the FSx root step's (volume_prepare.NAMESPACE)."""

    def where(m: dict) -> str | None:
        if kind == "Namespace":
            return m["metadata"]["name"]
        if kind == "PersistentVolume":
            return m["spec"]["claimRef"]["namespace"]
        return m["metadata"].get("namespace")

    (found,) = [m for m in result.manifests if m["kind"] == kind and where(m) == namespace]
    return found


def test_file_system_inputs_follow_the_config_and_use_the_stack_key():
    result = plan("efa")
    fs = inputs(result, FS)
    assert fs["deploymentType"] == "PERSISTENT_2"
    assert fs["perUnitStorageThroughput"] == 125  # PERSISTENT_2's lowest, the default
    assert fs["storageCapacity"] == 1200
    assert fs["fileSystemTypeVersion"] == "2.15"
    key = next(k for k in result.plan.of_type("aws:kms/key:Key") if "fsx" in k.name)
    assert fs["kmsKeyId"] == unwrap_secrets(key.state)["arn"]
    assert unwrap_secrets(key.inputs)["enableKeyRotation"] is True
    assert fs["securityGroupIds"] == [result.plan.one(SG, "trainstack-storage-fsx").id]
    assert fs["copyTagsToBackups"] is True  # FSBP FSx.2: backups keep the stack's tags
    # CopyTagsToBackups is create-only (botocore fsx UpdateFileSystemLustreConfiguration has no
    # such member; terraform-provider-aws marks copy_tags_to_backups ForceNew): a file system
    # created before the stack set it must keep its checkpoints, not be replaced for a tag copy.
    (declared,) = result.plan.of_type(FS)
    assert "copyTagsToBackups" in declared.options["ignoreChanges"]


@pytest.mark.parametrize(
    "stack, edits, zone",
    [
        ("efa", {}, "us-west-2a"),  # an EFA job mounts it: the EFA zone (default: the first)
        ("efa", {"trainstack:network__efaZone": "us-west-2b"}, "us-west-2b"),
        # No EFA job mounts it: the first zone, whatever the EFA zone.
        ("dev", {**DEV_FSX, "trainstack:network__efaZone": "us-west-2b"}, "us-west-2a"),
    ],
)
def test_file_system_is_in_its_jobs_zone(stack, edits, zone):
    result = plan(stack, **edits)
    assert _subnet_zone(result, inputs(result, FS)["subnetIds"]) == zone


def test_security_group_opens_only_the_lustre_ports_within_the_vpc():
    result = plan("efa")
    sg = inputs(result, SG, "trainstack-storage-fsx")
    for rules in (sg["ingress"], sg["egress"]):
        assert sorted((r["protocol"], r["fromPort"], r["toPort"]) for r in rules) == [
            ("tcp", 988, 988),
            ("tcp", 1018, 1023),
        ]
        assert all(r["cidrBlocks"] == ["10.43.0.0/16"] and r["self"] for r in rules)
    # The nodes' side admits the file system's group on the same ports, nothing wider.
    node_rules = [
        unwrap_secrets(r.inputs)
        for r in result.plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "fsx" in r.name
    ]
    fsx_sg = result.plan.one(SG, "trainstack-storage-fsx").id
    assert sorted((r["fromPort"], r["toPort"]) for r in node_rules) == [(988, 988), (1018, 1023)]
    assert {r["referencedSecurityGroupId"] for r in node_rules} == {fsx_sg}


def test_csi_add_on_gets_a_pod_identity_role_that_only_describes_the_file_system():
    result = plan("efa")
    addon = next(
        unwrap_secrets(a.inputs)
        for a in result.plan.of_type("aws:eks/addon:Addon")
        if unwrap_secrets(a.inputs)["addonName"] == "aws-fsx-csi-driver"
    )
    (assoc,) = addon["podIdentityAssociations"]
    assert assoc["serviceAccount"] == "fsx-csi-controller-sa"
    role = result.plan.one("aws:iam/role:Role", "trainstack-storage-fsx-csi")
    assert assoc["roleArn"] == unwrap_secrets(role.state)["arn"]
    trust = json.loads(unwrap_secrets(role.inputs)["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(inputs(result, "aws:iam/rolePolicy:RolePolicy", "trainstack-storage-fsx-csi")["policy"])  # fmt: skip
    (stmt,) = policy["Statement"]
    assert stmt["Action"] == "fsx:DescribeFileSystems"
    assert stmt["Resource"] == [state(result, FS)["arn"]]


def test_pv_is_the_file_system_and_the_claim_binds_it():
    result = plan("efa")
    fs = result.plan.one(FS)
    fs_state = unwrap_secrets(fs.state)
    pv, pvc = _manifest(result, "PersistentVolume"), _manifest(result, "PersistentVolumeClaim")
    csi = pv["spec"]["csi"]
    assert csi["driver"] == "fsx.csi.aws.com"
    assert csi["volumeHandle"] == fs.id
    assert csi["volumeAttributes"] == {
        "dnsname": fs_state["dnsName"],
        "mountname": fs_state["mountName"],
    }
    # Bound both ways: the claim names the PV, the PV is reserved for the claim; no class.
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pv["spec"]["claimRef"] == {
        "namespace": pvc["metadata"]["namespace"],
        "name": pvc["metadata"]["name"],
    }
    assert pvc["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    assert pvc["spec"]["accessModes"] == pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == pv["spec"]["capacity"]["storage"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    for body in (pv, pvc):
        assert schemas.validate_object(body, "1.34") == []
    # The job mounts that claim.
    job = _manifest(result, "PyTorchJob")
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in worker["volumes"] if "persistentVolumeClaim" in v]  # fmt: skip
    assert claims == [pvc["metadata"]["name"]]


def test_existing_claim_or_named_class_creates_no_file_system():
    for edit in (
        {"trainstack:volumes__checkpoints__existingClaim": "team-fsx"},
        {"trainstack:volumes__checkpoints__storageClassName": "team-fsx-sc"},
    ):
        result = plan("efa", **edit)
        assert result.plan.of_type(FS) == [] and result.plan.of_type(PV) == []
        assert not any(
            unwrap_secrets(a.inputs)["addonName"] == "aws-fsx-csi-driver"
            for a in result.plan.of_type("aws:eks/addon:Addon")
        )


def test_data_repository_links_a_prefix_of_the_artifacts_bucket():
    result = plan("efa", **{"trainstack:volumes__checkpoints__dataRepository": {}})
    dra = inputs(result, DRA)
    fs = result.plan.one(FS)
    bucket = state(result, "aws:s3/bucket:Bucket", "trainstack-artifacts-bucket")
    assert dra["fileSystemId"] == fs.id
    assert dra["dataRepositoryPath"] == f"s3://{bucket['bucket']}/data/"
    assert dra["fileSystemPath"] == "/data/"
    assert dra["s3"]["autoImportPolicy"]["events"] == ["NEW", "CHANGED", "DELETED"]
    assert dra["s3"]["autoExportPolicy"]["events"] == []
    # FSx's per-file-system service-linked role may use the bucket's key, for this bucket only.
    grant = inputs(result, "aws:kms/grant:Grant")
    key = next(k for k in result.plan.of_type("aws:kms/key:Key") if "artifacts" in k.name)
    assert grant["keyId"] == unwrap_secrets(key.state)["arn"]
    assert grant["granteePrincipal"].endswith(
        f":role/{fsx.FSX_S3_SLR_PATH}/AWSServiceRoleForFSxS3Access_{fs.id}"
    )
    (constraint,) = grant["constraints"]
    assert constraint["encryptionContextSubset"] == {"aws:s3:arn": bucket["arn"]}
    assert "DescribeKey" not in grant["operations"]


def test_no_data_repository_by_default():
    assert plan("efa").plan.of_type(DRA) == []


# ------------------------------------------------------------------------------ config checks


@pytest.fixture
def efa():
    data, _ = stack_data("efa")
    return copy.deepcopy(data)


VOL = "volumes.checkpoints"


@pytest.mark.parametrize(
    "path, value, key, allowed",
    [
        ("size", "3600Gi", "size", "multiple of 2400Gi"),
        ("size", "1000Gi", "size", "1200Gi, 2400Gi"),
        ("throughput", 200, "throughput", "125, 250, 500, 1000"),
        ("deploymentType", "SCRATCH_1", "deploymentType", "PERSISTENT_2"),
    ],
)
def test_file_system_settings_aws_refuses_are_config_errors(efa, path, value, key, allowed):
    assert_rejected_naming_the_key(efa, f"{VOL}.{path}", value, f"trainstack:{VOL}.{key}", allowed)


def test_throughput_of_another_type_and_scratch_throughput_are_refused(efa):
    efa["volumes"]["checkpoints"]["deploymentType"] = "PERSISTENT_1"
    assert_rejected_naming_the_key(efa, f"{VOL}.throughput", 125, f"trainstack:{VOL}.throughput", "50, 100, 200")  # fmt: skip
    efa["volumes"]["checkpoints"]["deploymentType"] = "SCRATCH_2"
    assert_rejected_naming_the_key(efa, f"{VOL}.throughput", 125, f"trainstack:{VOL}.throughput", "no provisioned throughput")  # fmt: skip


def test_data_repository_needs_persistent_2_and_the_artifacts_bucket(efa):
    efa["volumes"]["checkpoints"]["deploymentType"] = "SCRATCH_2"
    assert_rejected_naming_the_key(efa, f"{VOL}.dataRepository", {}, f"trainstack:{VOL}.dataRepository", "PERSISTENT_2")  # fmt: skip
    del efa["volumes"]["checkpoints"]["deploymentType"]
    efa["artifacts"] = {"enabled": False}
    del efa["servingJobs"]  # its model is in the bucket too
    assert_rejected_naming_the_key(efa, f"{VOL}.dataRepository", {}, f"trainstack:{VOL}.dataRepository", "artifacts.enabled")  # fmt: skip


def test_data_repository_path_must_be_a_bucket_prefix(efa):
    assert_rejected_naming_the_key(
        efa, f"{VOL}.dataRepository", {"path": "/data"}, f"trainstack:{VOL}.dataRepository.path", "'data/'"
    )  # fmt: skip


def test_fsx_keys_on_a_volume_the_stack_does_not_create_are_refused(efa):
    efa["volumes"]["checkpoints"]["existingClaim"] = "mine"
    assert_rejected_naming_the_key(efa, f"{VOL}.throughput", 250, f"trainstack:{VOL}.throughput", "without storageClassName or existingClaim")  # fmt: skip
    dev, _ = stack_data("dev")
    assert_rejected_naming_the_key(dev, f"{VOL}.deploymentType", "PERSISTENT_2", f"trainstack:{VOL}.deploymentType", "type: fsx")  # fmt: skip


def test_valid_settings_parse(efa):
    efa["volumes"]["checkpoints"].update(
        {"size": "4800Gi", "deploymentType": "PERSISTENT_1", "throughput": 200}
    )
    vol = parse(efa, "us-west-2").volumes["checkpoints"]
    assert (vol.lustre_deployment, vol.lustre_throughput) == ("PERSISTENT_1", 200)
    efa["volumes"]["checkpoints"].update({"deploymentType": "SCRATCH_2", "throughput": None})
    assert parse(efa, "us-west-2").volumes["checkpoints"].lustre_throughput is None
    with pytest.raises(ConfigError):
        parse({**efa, "volumes": {"checkpoints": {"type": "fsx", "size": "7000Gi"}}})


def test_config_rules_are_the_botocore_model_s():
    """The allowed sizes and throughputs are the ones botocore's fsx model documents."""
    model = botocore.session.get_session().get_service_model("fsx")
    shapes = model.operation_model("CreateFileSystem").input_shape.members
    capacity_doc = shapes["StorageCapacity"].documentation
    assert "1200 GiB, 2400 GiB, and increments of 2400 GiB" in capacity_doc
    throughput_doc = shapes["LustreConfiguration"].members["PerUnitStorageThroughput"].documentation
    for deployment, allowed in THROUGHPUTS.items():
        if allowed:
            assert f"For <code>{deployment}</code> SSD storage: " + ", ".join(map(str, allowed)) in throughput_doc  # fmt: skip
    assert [valid_capacity(g) for g in (1200, 2400, 3600, 4800, 9600)] == [True, True, False, True, True]  # fmt: skip
    # The API's own bounds, which aws_rules checks at plan time.
    assert shapes["LustreConfiguration"].members["PerUnitStorageThroughput"].metadata["max"] == 1000


# ------------------------------------------------------------------------------------ policy


def test_persistent_file_system_without_the_stack_key_is_blocked():
    rule = BY_NAME["fsx-lustre-customer-key"]
    assert rule.enforcement == MANDATORY
    assert rule(FS, {"deploymentType": "PERSISTENT_2", "storageCapacity": 1200})
    assert rule(FS, {"deploymentType": "PERSISTENT_1", "kmsKeyId": "arn:aws:kms:r:1:key/k"}) == []
    # Scratch file systems take no KmsKeyId (botocore fsx KmsKeyId: FSx's own key).
    assert rule(FS, {"deploymentType": "SCRATCH_2"}) == []


# ------------------------------------------- jobs write beside the imported tree, not in it

DRA_ON = {"trainstack:volumes__checkpoints__dataRepository": {}}


def _writes(manifest: dict) -> tuple[str, set[str]]:
    """A rendered job's checkpoint mount and the paths on it that the job itself writes: its
    TRAINSTACK_RUN_DIR and the trainer's/launcher's/Ray's output options."""
    spec = manifest["spec"]
    # The Ray submitter mounts no volume and writes nothing there.
    templates = [t for part, t in pod_templates(manifest) if part != "submitter"]
    if manifest["kind"] == "PyTorchJob":
        words = templates[0]["spec"]["containers"][0]["command"]
    else:
        words = shlex.split(spec["entrypoint"])
    mounts = {
        m["mountPath"]
        for t in templates
        for c in t["spec"]["containers"]
        for m in c["volumeMounts"]
        if m["name"] == "checkpoints"
    }
    (mount,) = mounts
    paths = {
        e["value"]
        for t in templates
        for c in t["spec"]["containers"]
        for e in c["env"]
        if e["name"] == "TRAINSTACK_RUN_DIR"
    }
    options = ("--checkpoint.dir", "--metrics.out-dir", "--storage-path")
    paths |= {b for a, b in zip(words, words[1:], strict=False) if a in options}
    paths |= {w.split("=", 1)[1] for w in words if w.startswith("--checkpoint-dir=")}
    # A foreign workload's own output folder, as the efa stack's VERL job writes it.
    paths |= {w.split("=", 1)[1] for w in words if w.startswith("trainer.default_local_dir=")}
    return mount, paths


def test_every_path_a_job_writes_is_its_own_folder_beside_the_imported_tree():
    result = plan("efa", **DRA_ON)
    imported = inputs(result, DRA)["fileSystemPath"].strip("/")  # "data"
    pv = _manifest(result, "PersistentVolume")
    assert "subPath" not in json.dumps(pv)  # the pod's mount is the file system's root
    jobs = [m for m in result.manifests if m["kind"] in ("PyTorchJob", "RayJob")]
    assert {j["metadata"]["name"] for j in jobs} == {"llama-8b", "verl-grpo"}
    for job in jobs:
        name = job["metadata"]["name"]
        mount, paths = _writes(job)
        assert len(paths) > 1, paths
        for path in paths:
            rel = path.removeprefix(mount + "/")
            assert rel != path, (name, path)  # on the volume
            # In the job's own folder, so neither in the imported tree nor above it.
            assert rel == name or rel.startswith(name + "/"), (name, path)
            assert not (rel == imported or rel.startswith(imported + "/")), (name, path)
            assert not imported.startswith(rel + "/"), (name, path)


@pytest.mark.parametrize(
    "job_name, repo",
    [("data", {}), ("llama-8b", {"path": "llama-8b/data/"}), ("verl-grpo", {"path": "verl-grpo/"})],
)
def test_a_job_whose_folder_is_the_imported_tree_is_refused(efa, job_name, repo):
    efa["volumes"]["checkpoints"]["dataRepository"] = repo
    jobs = efa["trainingJobs"]
    jobs[job_name] = jobs.pop("llama-8b") if job_name not in jobs else jobs[job_name]
    with pytest.raises(ConfigError) as err:
        parse(efa, "us-west-2")
    assert err.value.issues == [
        f"trainstack:trainingJobs.{job_name}: its folder {job_name}/ on volume 'checkpoints' is "
        "where trainstack:volumes.checkpoints.dataRepository imports s3://<artifacts bucket>/"
        f"{repo.get('path', 'data/')} (imported files are root-owned, 0755: the job, uid 1000, "
        "could not write its checkpoints there); rename the job or give dataRepository another "
        "path"
    ]


def test_a_job_beside_the_imported_tree_is_accepted(efa):
    efa["volumes"]["checkpoints"]["dataRepository"] = {"path": "datasets/llama-8b/"}
    cfg = parse(efa, "us-west-2")  # llama-8b writes llama-8b/, the tree is datasets/llama-8b/
    assert cfg.volumes["checkpoints"].data_repository.path == "datasets/llama-8b/"


# ------------------------------------------ the root-run step that makes the root writable

JOB = "kubernetes:batch/v1:Job"


def test_a_root_run_job_outside_the_jobs_namespace_makes_the_root_writable():
    result = plan("efa")
    ns = volume_prepare.NAMESPACE
    namespace = _manifest(result, "Namespace", ns)
    assert namespace["metadata"]["name"] == ns
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"  # root, nothing more
    # Its own PV of the same file system, bound to its own claim; the jobs keep theirs.
    jobs_pv = _manifest(result, "PersistentVolume", "training")
    step_pv = _manifest(result, "PersistentVolume", ns)
    assert step_pv["spec"]["csi"] == jobs_pv["spec"]["csi"]
    assert step_pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    claim = _manifest(result, "PersistentVolumeClaim", ns)
    assert claim["spec"]["volumeName"] == step_pv["metadata"]["name"]
    job = _manifest(result, "Job", ns)
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["chmod", "1777", "/volume"]
    assert c["volumeMounts"] == [{"name": "volume", "mountPath": "/volume"}]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert pod["securityContext"]["runAsUser"] == 0 and c["securityContext"]["capabilities"] == {
        "drop": ["ALL"]
    }
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    # The jobs wait for it (they depend on the storage component, which expands to its
    # children), and it waits for its claim.
    step = result.plan.one(JOB)
    for kind in ("kubeflow.org/v1:PyTorchJob", "ray.io/v1:RayJob"):
        for cr in result.plan.of_type(f"kubernetes:{kind}"):
            assert step.urn in cr.dependencies, cr.name
    assert (
        result.plan.one(
            "kubernetes:core/v1:PersistentVolumeClaim", "trainstack-storage-prepare-pvc-checkpoints"
        ).urn
        in step.dependencies
    )
    # Nothing of the kind without a stack-created Lustre file system.
    assert not [m for m in plan("dev").manifests if m["kind"] == "Job"]


def test_the_rendered_chmod_lets_uid_1000_create_its_folder_and_nothing_more():
    if os.geteuid() != 0:
        pytest.skip("needs root to stand in for the file system's owner")
    # Under /tmp itself: pytest's tmp_path sits in a 0700 folder uid 1000 cannot traverse.
    base = Path(tempfile.mkdtemp(prefix="fsx-root-"))
    try:
        os.chmod(base, 0o755)
        root = base / "fs"
        root.mkdir(mode=0o755)  # as Lustre creates it: root-owned 0755
        (root / "data").mkdir(mode=0o755)  # the data repository's root-owned tree

        def as_trainer(*cmd: str) -> str:
            done = subprocess.run(
                cmd, user=1000, group=1000, extra_groups=[], cwd="/", capture_output=True, text=True
            )
            return "ok" if done.returncode == 0 else done.stderr

        # Before: the job cannot create its folder.
        assert "Permission denied" in as_trainer("mkdir", str(root / "llama-8b"))
        (c,) = volume_prepare.render_job("checkpoints", "image")["spec"]["template"]["spec"][
            "containers"
        ]
        assert c["command"][-1] == volume_prepare.MOUNT
        subprocess.run([*c["command"][:-1], str(root)], check=True)
        assert as_trainer("mkdir", "-p", str(root / "llama-8b" / "checkpoints")) == "ok"
        # The sticky bit: it cannot rename or remove what it does not own, nor write in the
        # imported tree.
        assert "ok" != as_trainer("mv", str(root / "data"), str(root / "moved"))
        assert "ok" != as_trainer("rmdir", str(root / "data"))
        assert "Permission denied" in as_trainer("mkdir", str(root / "data" / "x"))
    finally:
        shutil.rmtree(base)
