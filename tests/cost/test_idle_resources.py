"""The idle cost priced from the plan's resources (trainstack/cost/resources.py): both example
stacks item by item against figures computed here from the list prices, every resource type the
program can register known to the table, and what stays unpriced listed with its reason."""

import re
from pathlib import Path

import pytest
import support
import yaml
from test_cost import ROOT, config

from components import versions
from trainstack import cost
from trainstack.cli import cost as cost_cli
from trainstack.cost import observability
from trainstack.offline import plan_report
from trainstack.offline.costing import price_plan, price_stack
from trainstack.offline.stack_config import load_stack_file

# The list prices of prices.yaml (us-west-2), restated so the test checks the table too.
HOURS = 730
CONTROL_PLANE, NAT, IPV4, ENDPOINT_AZ, NLB = 0.10, 0.045, 0.005, 0.01, 0.0225
# Both examples run Kubernetes 1.34, past its standard support since 2026-12-02.
CONTROL_PLANE_EXTENDED = 0.60
KMS_KEY, GP3_GIB, DASHBOARD = 1.00 / HOURS, 0.08 / HOURS, 3.00 / HOURS
CUSTOM_METRIC = 0.30 / HOURS  # the job watcher's fleet figures, one per series
FSX_P2_125_GIB = 0.145 / HOURS
M6I_LARGE, M6I_XLARGE = 0.096, 0.192
# The CloudWatch agent (observability.enabled): two system nodes and the cluster's own figures,
# at $0.21 per million observations (trainstack/cost/observability.py counts them).
OBSERVATION = 0.21 / 1e6
COLLECTOR = (2 * observability.node_per_minute() + observability.cluster_per_minute()) * 60


def priced(stack: str, **overrides) -> cost.CostReport:
    return price_plan(support.plan(stack, **overrides))


def item(report: cost.CostReport, what: str) -> cost.Item:
    return next(i for i in report.fixed if i.what == what)


def test_efa_idles_at_its_resources_priced_one_by_one():
    report = priced("efa")
    plan = support.plan("efa").plan
    keys = plan.of_type("aws:kms/key:Key")
    # EKS secrets, trainer image, artifacts, FSx and notifications: one key each.
    assert len(keys) == 5
    assert sorted(i.what for i in report.fixed if i.price == "kmsKeyMonth") == sorted(
        f"KMS key ({k.name})" for k in keys
    )
    fsx = item(report, "FSx Lustre PERSISTENT_2 125 MB/s/TiB")
    assert fsx.quantity == 1200 and fsx.unit_hourly == pytest.approx(FSX_P2_125_GIB)
    assert item(report, "NAT gateway").quantity == 3  # perAz over 3 zones
    assert item(report, "public IPv4 address (Elastic IP)").quantity == 3  # one per NAT gateway
    assert item(report, "interface endpoints").quantity == 5 * 3  # ecr.api/dkr, sts, sqs, ec2
    expected = (
        CONTROL_PLANE_EXTENDED
        + 3 * NAT
        + 3 * IPV4
        + 15 * ENDPOINT_AZ
        + 1200 * FSX_P2_125_GIB
        + 5 * KMS_KEY
        + DASHBOARD  # the stack's CloudWatch dashboard
        + 2 * M6I_XLARGE  # system group at its desired size, 50 GiB root disks
        + 2 * 50 * GP3_GIB
        + COLLECTOR * OBSERVATION
        # Nodes by pool and capacity type: system, gpu-g5-efa, the efa NodePool, 3 series; $/h
        # in total and per pool, 4; GpuNodes and IdleGpuNodes, 2.
        + 9 * CUSTOM_METRIC
    )
    assert report.idle_hourly == pytest.approx(expected)
    assert round(report.idle_hourly, 2) == 1.57


def test_dev_idles_at_its_resources_priced_one_by_one():
    report = priced("dev")
    expected = (
        CONTROL_PLANE_EXTENDED
        + NAT
        + IPV4
        + 4 * KMS_KEY  # EKS secrets, trainer image, artifacts, the notifications topic
        + DASHBOARD
        + 2 * M6I_LARGE
        + 2 * 50 * GP3_GIB
        + COLLECTOR * OBSERVATION
        # Nodes by pool and capacity type: system, gpu-g4dn (spot), gpu-g5, small (spot and
        # on-demand), large, 6 series; $/h in total and per pool, 6; GpuNodes, IdleGpuNodes.
        + 14 * CUSTOM_METRIC
    )  # single NAT, no endpoints, EFS billed by bytes stored
    assert report.idle_hourly == pytest.approx(expected)
    # README and docs/deploying.md quote this figure, docs/observability.md the collector's.
    assert round(report.idle_hourly, 2) == 0.89
    assert round(report.monthly(report.idle_hourly)) == 651
    assert round(report.monthly(COLLECTOR * OBSERVATION), 2) == 17.27
    efs = report.unpriced_of("usage")
    assert any(u.type == "aws:efs/fileSystem:FileSystem" for u in efs)


def test_the_dev_pods_load_balancer_is_priced_with_its_public_addresses(tmp_path):
    data = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    data["config"]["trainstack:devPod"] = {
        "enabled": True,
        "nodePool": "small",
        "loadBalancerCidrs": ["203.0.113.0/24"],
    }
    data["config"]["trainstack:devPodSshKeys"] = {"secure": "v1:BBBB"}
    path = tmp_path / "Pulumi.dp.yaml"
    path.write_text(yaml.safe_dump(data))
    report = price_stack(load_stack_file(path, "dp"), "dp")
    nlb = next(i for i in report.fixed if i.price == "nlbHour")
    assert nlb.quantity == 1 and nlb.unit_hourly == NLB
    # Internet-facing: an address in each of dev's 2 public subnets.
    ips = next(i for i in report.fixed if i.what.startswith("public IPv4 addresses of"))
    assert ips.quantity == 2 and ips.unit_hourly == IPV4
    assert report.idle_hourly == pytest.approx(priced("dev").idle_hourly + NLB + 2 * IPV4)
    assert not report.unpriced_of("unknown", "missing")


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_every_type_the_plan_registers_is_in_the_table(stack):
    types = {r.type for r in support.plan(stack).plan.resources}
    assert {t for t in types if not cost.known(t)} == set()
    assert not priced(stack).unpriced_of("unknown", "missing")


def _type_tokens(source: str) -> set[str]:
    """Pulumi type tokens of the resources a module constructs (aws.<mod>.<Class>(,
    k8s.<group>.<version>.<Kind>, eks.<Class>()."""
    groups = {
        "core": "core",
        "apps": "apps",
        "networking": "networking.k8s.io",
        "rbac": "rbac.authorization.k8s.io",
        "storage": "storage.k8s.io",
        "helm": "helm.sh",
        "kustomize": "kustomize",
        "batch": "batch",
    }
    found = set()
    for mod, cls in re.findall(r"\baws\.([a-z0-9]+)\.([A-Z][A-Za-z0-9]+)\(", source):
        if not cls.endswith("Args"):
            found.add(f"aws:{mod}/{cls[0].lower()}{cls[1:]}:{cls}")
    for group, version, kind in re.findall(r"\bk8s\.([a-z]+)\.(v\d+)\.([A-Z][A-Za-z]+)", source):
        if not kind.endswith("Args"):
            found.add(f"kubernetes:{groups.get(group, group)}/{version}:{kind}")
    for cls in re.findall(r"(?<!\.)\beks\.([A-Z][A-Za-z]+)\(", source):
        if not cls.endswith("Args"):
            found.add(f"eks:index:{cls}")
    return found


def test_every_type_the_program_can_create_is_in_the_table():
    """Also the ones neither example stack creates (an SNS subscription, a data repository
    association, a Secret): a config that turns them on is priced or explained too."""
    tokens = set()
    for path in sorted((ROOT / "components").glob("*.py")):
        tokens |= _type_tokens(path.read_text())
    assert len(tokens) > 50  # the scan finds the program's resources
    assert {t for t in tokens if not cost.known(t)} == set()


def test_a_type_the_table_does_not_know_is_listed_as_unknown_not_priced_at_zero():
    prices = cost.load_prices("us-west-2")
    resources = [
        cost.Resource("aws:rds/instance:Instance", "db", {}),
        cost.Resource("aws:kms/key:Key", "k", {}),
    ]
    found = cost.price_resources(resources, prices)
    assert [(u.type, u.kind) for u in found.of_kind("unknown")] == [
        ("aws:rds/instance:Instance", "unknown")
    ]
    assert not cost.known("aws:rds/instance:Instance")
    report = cost.estimate(config("dev"), prices, "dev", resources)
    text = cost.format_report(report)
    assert "NOT PRICED, type unknown to trainstack/cost/resources.py" in text
    assert "aws:rds/instance:Instance" in text


def _class(name: str, provisioner: str) -> cost.Resource:
    body = {"metadata": {"name": name}, "provisioner": provisioner}
    return cost.Resource("kubernetes:storage.k8s.io/v1:StorageClass", name, body)


def _claim(name: str, cls: str, size: str) -> cost.Resource:
    spec = {"storageClassName": cls, "resources": {"requests": {"storage": size}}}
    return cost.Resource(
        "kubernetes:core/v1:PersistentVolumeClaim", name, {"metadata": {"name": name}, "spec": spec}
    )


def test_claims_are_priced_by_their_class():
    prices = cost.load_prices("us-west-2")
    found = cost.price_resources(
        [
            _class("gp3", "ebs.csi.aws.com"),
            _class("efs-sc", "efs.csi.aws.com"),
            _claim("ebs", "gp3", "200Gi"),
            _claim("efs", "efs-sc", "100Gi"),
            _claim("theirs", "fsx-sc", "1200Gi"),
        ],
        prices,
    )
    ebs = next(i for i in found.items if i.what == "EBS volume of claim ebs")
    assert ebs.quantity == 200 and ebs.unit_hourly == pytest.approx(GP3_GIB)
    assert len(found.items) == 1
    (missing,) = found.of_kind("missing")
    assert missing.names == ("theirs",) and "'fsx-sc'" in missing.reason


def test_lustre_tiers_and_an_unpriced_tier():
    prices = cost.load_prices("us-west-2")

    def lustre(deployment, throughput, **extra):
        inputs = {"deploymentType": deployment, "storageCapacity": 2400.0, **extra}
        if throughput:
            inputs["perUnitStorageThroughput"] = float(throughput)
        return cost.Resource("aws:fsx/lustreFileSystem:LustreFileSystem", "fs", inputs)

    for deployment, throughput, month in [
        ("PERSISTENT_2", 1000, 0.600),
        ("PERSISTENT_1", 200, 0.290),
        ("SCRATCH_2", None, 0.140),
    ]:
        (fs,) = cost.price_resources([lustre(deployment, throughput)], prices).items
        assert fs.hourly == pytest.approx(2400 * month / HOURS)
    user = lustre("PERSISTENT_2", 125, metadataConfiguration={"mode": "USER_PROVISIONED"})
    assert cost.price_resources([user], prices).of_kind("missing")
    with pytest.raises(cost.PriceError, match=r"'PERSISTENT_2/40'.*fsxLustreGbMonth"):
        cost.price_resources([lustre("PERSISTENT_2", 40)], prices)


def test_an_internal_load_balancer_has_no_public_address():
    prices = cost.load_prices("us-west-2")
    annotation = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    svc = cost.Resource(
        "kubernetes:core/v1:Service",
        "svc",
        {"metadata": {"name": "svc", "annotations": annotation}, "spec": {"type": "LoadBalancer"}},
    )
    found = cost.price_resources([svc], prices)
    assert [i.price for i in found.items] == ["nlbHour"]


# ---------------------------------------------------------------------- what the reader sees


def test_cost_lists_what_stays_unpriced_and_dates_each_rate(capsys):
    assert cost_cli.main(["--stack", "efa"], ROOT) == 0
    out = capsys.readouterr().out
    assert "FSx Lustre PERSISTENT_2 125 MB/s/TiB" in out
    assert "KMS key (trainstack-notifications-key)" in out
    unpriced = out[out.index("Unpriced, billed by use") : out.index("Notes:")]
    for type_ in (
        # EKS, CodeBuild, the VPC flow logs, Container Insights and the trainer's figures
        "aws:cloudwatch/logGroup:LogGroup x5",
        "aws:ec2/flowLog:FlowLog",
        "aws:s3/bucket:Bucket x2",
        "aws:ecr/repository:Repository",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
    ):
        assert type_ in unpriced
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    sources = out[out.index("Sources of the rates used") :]
    for row in ("fsxLustreGbMonth", "publicIpv4Hour", "kmsKeyMonth", "natGateway", "instances"):
        s = table["sources"][row]
        status = "confirmed" if s.get("confirmed") else "NOT confirmed"
        assert f"{row}: {s['url']} (read {s['read']}, {status} on AWS's page)" in sources


def test_cost_says_which_rates_aws_has_not_been_seen_to_state(capsys, tmp_path: Path):
    """A rate from a third party is printed as such, in the notes and beside its source; the
    same rate marked confirmed in a copy of the table is not."""
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    table["sources"]["natGateway"]["confirmed"] = False
    unconfirmed = tmp_path / "unconfirmed.yaml"
    unconfirmed.write_text(yaml.safe_dump(table))
    table["sources"]["natGateway"]["confirmed"] = True
    confirmed = tmp_path / "confirmed.yaml"
    confirmed.write_text(yaml.safe_dump(table))

    assert cost_cli.main(["--stack", "efa", "--prices", str(unconfirmed)], ROOT) == 0
    out = capsys.readouterr().out
    notes = out[out.index("Notes:") : out.index("Sources of the rates used")]
    assert "not confirmed on AWS's own pages" in notes and "natGateway" in notes
    assert "natGateway: https://aws.amazon.com/vpc/pricing/ (read " in out
    assert "NOT confirmed on AWS's page)" in out.split("natGateway: https://")[-1].split("\n")[0]

    assert cost_cli.main(["--stack", "efa", "--prices", str(confirmed)], ROOT) == 0
    out = capsys.readouterr().out
    notes = out[out.index("Notes:") : out.index("Sources of the rates used")]
    assert "natGateway" not in notes
    line = out.split("natGateway: https://")[-1].split("\n")[0]
    assert ", confirmed on AWS's page)" in line


def test_a_source_without_confirmed_is_not_confirmed(tmp_path: Path):
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    for s in table["sources"].values():
        s.pop("confirmed", None)
    bare = tmp_path / "prices.yaml"
    bare.write_text(yaml.safe_dump(table))
    prices = cost.load_prices("us-west-2", bare)
    assert not any(s.confirmed for s in prices.sources.values())


def test_json_lists_every_unpriced_type_with_its_reason(capsys):
    import json

    assert cost_cli.main(["--stack", "efa", "--json"], ROOT) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {u["type"]: u["kind"] for u in data["unpriced"]}
    assert kinds["aws:iam/role:Role"] == "free"
    assert kinds["eks:index:ManagedNodeGroup"] == "included"
    assert kinds["aws:sns/topic:Topic"] == "usage"
    assert all(u["reason"] for u in data["unpriced"])
    assert set(data["sources"]) >= {"fsxLustreGbMonth", "kmsKeyMonth", "publicIpv4Hour"}
    assert data["sources"]["kmsKeyMonth"]["confirmed"] is True
    assert data["sources"]["fsxLustreGbMonth"]["confirmed"] is False


def test_plan_summary_itemises_idle_and_lists_the_unpriced():
    summary = plan_report.summary(support.plan("efa"))
    assert "$1.57/h idle ($1,147/month)" in summary
    assert "FSx Lustre PERSISTENT_2 125 MB/s/TiB" in summary
    assert "Unpriced, billed by use" in summary and "aws:sns/topic:Topic" in summary


# -------------------------------------------------------------------------------- price table


def test_every_price_row_has_a_dated_source():
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    for region, rows in table["regions"].items():
        assert set(rows) <= set(table["sources"]), region
    for row, s in table["sources"].items():
        assert s["url"].startswith("https://aws.amazon.com/"), row
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", s["read"]), row
        # Confirmed or not is said outright, and a rate AWS's text was not seen to state says
        # where it comes from instead.
        assert isinstance(s.get("confirmed"), bool), row
        assert s["confirmed"] or len(s.get("note", "")) > 40, row


def test_a_row_without_a_source_is_an_error(tmp_path: Path):
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    del table["sources"]["nlbHour"]
    bad = tmp_path / "prices.yaml"
    bad.write_text(yaml.safe_dump(table))
    with pytest.raises(cost.PriceError, match="no entry under `sources` for nlbHour"):
        cost.load_prices("us-west-2", bad)


def test_the_plan_names_the_rates_still_to_check_on_aws_pages():
    result = support.plan("dev")
    line = next(
        s for s in plan_report.summary(result).splitlines() if "checked on AWS's own pages" in s
    )
    table = yaml.safe_load(cost.PRICES_FILE.read_text())
    assert "natGateway" in line and not table["sources"]["natGateway"].get("confirmed")
    assert "kmsKeyMonth" not in line and table["sources"]["kmsKeyMonth"]["confirmed"]


def test_a_version_past_its_standard_support_is_priced_at_the_extended_rate():
    # EKS bills by the version's state on the day: the last day of standard support is standard.
    assert not versions.in_extended_support("1.35", "2027-03-27")
    assert versions.in_extended_support("1.35", "2027-03-28")
    assert not versions.in_extended_support("1.99", "2030-01-01")  # unknown: not guessed dearer
    line = next(i for i in priced("dev").fixed if i.price == "eksControlPlaneExtended")
    assert line.what == "EKS control plane (1.34: extended support)"
    assert line.unit_hourly == CONTROL_PLANE_EXTENDED
