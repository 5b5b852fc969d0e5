"""FSx for Lustre settings of a `type: fsx` volume (`trainstack:volumes.<name>`), and AWS's rules
for them, so a file system CreateFileSystem would refuse fails `pulumi preview` under its key.

The rules follow botocore's fsx service model (2018-03-01, botocore 1.44.8):
CreateFileSystemRequest.StorageCapacity says SCRATCH_2, PERSISTENT_1 and PERSISTENT_2 on SSD take
1200 GiB, 2400 GiB and then increments of 2400 GiB; CreateFileSystemLustreConfiguration.
PerUnitStorageThroughput lists 125/250/500/1000 MB/s/TiB for PERSISTENT_2 SSD and 50/100/200 for
PERSISTENT_1 SSD, and none for scratch (it is "required with PERSISTENT_1 and PERSISTENT_2").
SCRATCH_1 (3600 GiB increments, no data repository associations) and HDD storage are not offered.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from .artifacts import DATA_PREFIX
from .base import _Model, key
from .sizing import gib

DeploymentType = Literal["PERSISTENT_2", "PERSISTENT_1", "SCRATCH_2"]
DEFAULT_DEPLOYMENT: DeploymentType = "PERSISTENT_2"
THROUGHPUTS: dict[str, tuple[int, ...]] = {
    "PERSISTENT_2": (125, 250, 500, 1000),
    "PERSISTENT_1": (50, 100, 200),
    "SCRATCH_2": (),
}
FSX_MIN_GIB = 1200
FSX_STEP_GIB = 2400
# S3DataRepositoryConfiguration AutoImportPolicy/AutoExportPolicy Events: EventType enum.
Event = Literal["NEW", "CHANGED", "DELETED"]
EVENTS: tuple[Event, ...] = ("NEW", "CHANGED", "DELETED")
# A prefix of the artifacts bucket: path segments of letters, digits and -_. ending in '/'.
_PREFIX = re.compile(r"([A-Za-z0-9._-]+/)+")


class DataRepositoryConfig(_Model):
    """A data repository association of the file system with a prefix of the artifacts bucket:
    `s3://<bucket>/<path>` appears as `<mount>/<path>` on the volume."""

    path: str = DATA_PREFIX
    # Which bucket changes FSx imports onto the file system, and which file system changes it
    # exports to the bucket (none by default: the bucket stays the jobs' source of truth).
    auto_import: list[Event] = Field(default_factory=lambda: list(EVENTS))
    auto_export: list[Event] = Field(default_factory=list)


def imported_top(repo: DataRepositoryConfig) -> str:
    """The top directory of the volume that the association's tree lives in: `data` for
    `data/`, `llama/data/` -> `llama`: FSx creates it, and imports into it root-owned."""
    return repo.path.split("/", 1)[0]


def check_job_folder(
    where: tuple, job_name: str, volume_name: str, repo: DataRepositoryConfig
) -> list[str]:
    """A job writes only in its own folder `<mount>/<job>` (job_command.run_dir): checkpoints,
    metrics, Ray's storage, TRAINSTACK_RUN_DIR. FSx imports S3 objects without POSIX metadata
    root-owned with mode 0755 (FSx for Lustre Guide, "POSIX metadata support for data
    repositories"), and the job runs as uid 1000, so that folder must lie outside the imported
    tree and not above it."""
    if job_name != imported_top(repo):
        return []
    return [
        f"{key(*where)}: its folder {job_name}/ on volume {volume_name!r} is where "
        f"{key('volumes', volume_name, 'dataRepository')} imports s3://<artifacts bucket>/"
        f"{repo.path} (imported files are root-owned, 0755: the job, uid 1000, could not "
        "write its checkpoints there); rename the job or give dataRepository another path"
    ]


def is_persistent(deployment: str) -> bool:
    return deployment.startswith("PERSISTENT")


def valid_capacity(size_gib: float) -> bool:
    return size_gib in (FSX_MIN_GIB, 2 * FSX_MIN_GIB) or (
        size_gib > 0 and size_gib % FSX_STEP_GIB == 0
    )


def check_lustre(
    where: tuple,
    size: str,
    deployment: str,
    throughput: int | None,
    repo: DataRepositoryConfig | None,
    *,
    artifacts_enabled: bool,
) -> list[str]:
    """The file system's settings against CreateFileSystem's and the association's rules."""
    issues = []
    size_gib = gib(size)
    if not valid_capacity(size_gib):
        issues.append(
            f"{key(*where, 'size')} = {size!r}: FSx for Lustre takes 1200Gi, 2400Gi or a "
            f"multiple of 2400Gi (4800Gi, 7200Gi, ...)"
        )
    allowed = THROUGHPUTS[deployment]
    if throughput is not None and throughput not in allowed:
        issues.append(
            f"{key(*where, 'throughput')} = {throughput}: "
            + (
                f"{deployment} takes {', '.join(map(str, allowed))} (MB/s per TiB)"
                if allowed
                else f"{deployment} has no provisioned throughput; remove it"
            )
        )
    if repo is not None:
        if deployment != "PERSISTENT_2":
            # pulumi-aws 7.51 fsx.DataRepositoryAssociation: "only compatible with ...
            # PERSISTENT_2 deployment type" (the API also takes SCRATCH_2 on Lustre 2.12+).
            issues.append(
                f"{key(*where, 'dataRepository')}: needs deploymentType PERSISTENT_2 "
                f"(is {deployment})"
            )
        if not artifacts_enabled:
            issues.append(
                f"{key(*where, 'dataRepository')}: links the artifacts bucket, which "
                f"{key('artifacts', 'enabled')} = false turns off; enable it or remove "
                "dataRepository"
            )
        if not _PREFIX.fullmatch(repo.path):
            issues.append(
                f"{key(*where, 'dataRepository', 'path')} = {repo.path!r}: a prefix of the "
                "artifacts bucket such as 'data/' (letters, digits, '.', '_', '-', each "
                "segment ending in '/')"
            )
        if not repo.auto_import and not repo.auto_export:
            issues.append(
                f"{key(*where, 'dataRepository')}: neither autoImport nor autoExport has an "
                f"event; give one of {', '.join(EVENTS)} or remove dataRepository"
            )
    return issues
