"""The dated on-demand price table (`prices.yaml` beside this file), one region at a time, in USD
per hour. `trainstack cost` prices a stack with it (`--prices FILE` swaps in another table with
the same layout), and the stack hands the job watcher its instance rows (jobwatch_manifests.py)
so the fleet's running $/h comes from the same table; it lives here, below both."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

PRICES_FILE = Path(__file__).with_name("prices.yaml")


class _Model(BaseModel):
    # The stack config's model settings (components/config/base.py), not imported: that package
    # loads the whole config (botocore included), and the CLI imports this on every command.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class PriceError(Exception):
    """The price table is missing, malformed, or lacks a price the stack needs."""


class _RegionPrices(_Model):
    eks_control_plane: float = Field(ge=0)
    eks_control_plane_extended: float = Field(ge=0)
    nat_gateway: float = Field(ge=0)
    interface_endpoint_per_az: float = Field(ge=0)
    kms_key_month: float = Field(ge=0)
    gp3_gb_month: float = Field(ge=0)
    public_ipv4_hour: float = Field(ge=0)
    nlb_hour: float = Field(ge=0)
    cloudwatch_dashboard_month: float = Field(ge=0)
    # CloudWatch: Container Insights with enhanced observability per million observations, and a
    # custom metric (the trainer's figures) per metric-month, prorated by the hour.
    container_insights_observations_per_million: float = Field(ge=0)
    custom_metric_month: float = Field(ge=0)
    # "PERSISTENT_2/125": per GB-month; "SCRATCH_2": no throughput tier.
    fsx_lustre_gb_month: dict[str, float]
    instances: dict[str, float]


class Source(_Model):
    """Where a row's price was read, and when; `confirmed` only when AWS's own text states the
    rate, else `note` says where the figure comes from instead."""

    url: str
    read: str
    confirmed: bool = False
    note: str = ""

    def status(self) -> str:
        return "confirmed on AWS's page" if self.confirmed else "NOT confirmed on AWS's page"


class _PriceFile(_Model):
    date: str
    source: str
    sources: dict[str, Source]
    currency: Literal["USD"]
    hours_per_month: float = Field(gt=0)
    regions: dict[str, _RegionPrices]


@dataclass(frozen=True)
class PriceTable:
    """The prices of one region, all converted to USD per hour."""

    region: str
    date: str
    source: str
    path: Path
    hours_per_month: float
    eks_control_plane: float
    nat_gateway: float
    interface_endpoint_per_az: float
    kms_key: float
    gp3_gib: float  # per GiB-hour (the file's per-GB-month / hours per month)
    instances: dict[str, float]
    public_ipv4: float = 0.0
    nlb: float = 0.0
    cloudwatch_dashboard: float = 0.0  # per dashboard-hour (the file's per month / hours)
    # A cluster on a Kubernetes version past its standard support (components/versions.py).
    eks_control_plane_extended: float = 0.0
    fsx_lustre_gib: dict[str, float] = field(default_factory=dict)  # per GiB-hour
    container_insights_per_million: float = 0.0  # per million observations
    custom_metric: float = 0.0  # per custom metric-hour
    # The file's `sources` by row key (camelCase, as in the file): url, read, note.
    sources: dict[str, Source] = field(default_factory=dict)

    def fsx_lustre(self, deployment: str, throughput: int | None, used_by: str = "") -> float:
        """Per GiB-hour of an FSx for Lustre file system's provisioned capacity."""
        tier = deployment if throughput is None else f"{deployment}/{throughput}"
        return self._row(
            self.fsx_lustre_gib,
            tier,
            used_by,
            what="FSx for Lustre price for",
            unit="USD per GB-month",
            under="fsxLustreGbMonth",
            page="aws.amazon.com/fsx/lustre/pricing/",
        )

    def instance(self, name: str, used_by: str = "") -> float:
        return self._row(
            self.instances,
            name,
            used_by,
            what="on-demand price for instance type",
            unit="USD per hour",
            under="instances",
            page="aws.amazon.com/ec2/pricing/on-demand/",
        )

    def _row(
        self,
        rows: dict[str, float],
        name: str,
        used_by: str,
        *,
        what: str,
        unit: str,
        under: str,
        page: str,
    ) -> float:
        """rows[name], or a PriceError saying which row to add to the file, and from where."""
        if name not in rows:
            where = f" (used by {used_by})" if used_by else ""
            raise PriceError(
                f"no {self.region} {what} '{name}'{where} in {self.path}; add "
                f"`{name}: <{unit}>` under regions.{self.region}.{under} from {page}"
            )
        return rows[name]


def load_prices(region: str, path: Path = PRICES_FILE) -> PriceTable:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceError(f"cannot read the price table {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise PriceError(f"price table {path} is not valid YAML: {exc}") from exc
    try:
        data = _PriceFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PriceError(f"price table {path} is malformed: {problems}") from None
    if region not in data.regions:
        raise PriceError(
            f"no prices for region {region} in {path}; regions priced: "
            f"{', '.join(sorted(data.regions))}"
        )
    r = data.regions[region]
    # Every row needs its dated source: a price nobody can trace is not printed as a fact.
    undated = sorted(set(r.model_dump(by_alias=True)) - set(data.sources))
    if undated:
        raise PriceError(f"price table {path}: no entry under `sources` for {', '.join(undated)}")
    per_hour = 1 / data.hours_per_month
    return PriceTable(
        region=region,
        date=data.date,
        source=" ".join(data.source.split()),
        path=path,
        hours_per_month=data.hours_per_month,
        eks_control_plane=r.eks_control_plane,
        nat_gateway=r.nat_gateway,
        interface_endpoint_per_az=r.interface_endpoint_per_az,
        kms_key=r.kms_key_month * per_hour,
        gp3_gib=r.gp3_gb_month * per_hour,
        instances=dict(r.instances),
        public_ipv4=r.public_ipv4_hour,
        nlb=r.nlb_hour,
        cloudwatch_dashboard=r.cloudwatch_dashboard_month * per_hour,
        eks_control_plane_extended=r.eks_control_plane_extended,
        fsx_lustre_gib={k: v * per_hour for k, v in r.fsx_lustre_gb_month.items()},
        container_insights_per_million=r.container_insights_observations_per_million,
        custom_metric=r.custom_metric_month * per_hour,
        sources=dict(data.sources),
    )


def instance_prices(region: str, path: Path = PRICES_FILE) -> tuple[str, dict[str, float]]:
    """The table's date and its on-demand USD per hour by instance type in `region`; no rows
    for a region the table does not price (the fleet's $/h then says it has no price)."""
    try:
        table = load_prices(region, path)
    except PriceError:
        return "", {}
    return table.date, dict(table.instances)
