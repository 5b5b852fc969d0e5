"""The upstream CRDs that rendered custom resources are validated against: pinned, fetched once,
verified, cached.

Protocol
--------
Each CRD the stack renders objects of is pinned below by its upstream URL (a tag, never a branch:
a branch moves and the checksum would stop matching) and the sha256 of that file. A file is used
only if its bytes hash to the pin, so a plan never validates against a CRD of another version.

Where they are looked for, in order:

1. ``$TRAINSTACK_CRD_DIR``: a directory holding the same files (an offline mirror, for machines
   with no internet such as CI). When set, nothing is downloaded.
2. The user cache, ``$XDG_CACHE_HOME/trainstack/crds`` (default ``~/.cache/trainstack/crds``),
   shared by every clone on the machine. ``ensure(fetch=True)`` (``trainstack crds``, ``make
   crds``, and every ``trainstack plan``) downloads what is missing there, verifies it, and only
   then moves it into place, so a cut download never leaves a file that looks cached.

With neither, nothing fails: ``CrdSet.missing`` names the kinds that could not be checked and
``CrdSet.notice()`` says, in one line, how to provide them. Built-in kinds never need this module.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from components import versions

ENV_CRD_DIR = "TRAINSTACK_CRD_DIR"
DOWNLOAD_TIMEOUT_S = 20

_TRAINER = (
    f"https://raw.githubusercontent.com/kubeflow/trainer/{versions.TRAINING_OPERATOR_VERSION}"
)
_KUBERAY = f"https://raw.githubusercontent.com/ray-project/kuberay/v{versions.KUBERAY_VERSION}"
_KARPENTER = (
    f"https://raw.githubusercontent.com/aws/karpenter-provider-aws/v{versions.KARPENTER_VERSION}"
)
# Trainer v2 installs its CRDs from its chart's crds/ folder (the same bytes as
# manifests/base/crds/ at v2.2.1).
_TRAINER_V2 = (
    "https://raw.githubusercontent.com/kubeflow/trainer/"
    f"v{versions.KUBEFLOW_TRAINER_VERSION}/charts/kubeflow-trainer/crds"
)

_KUEUE = (
    f"https://raw.githubusercontent.com/kubernetes-sigs/kueue/v{versions.KUEUE_VERSION}"
    "/config/components/crd/bases"
)


@dataclass(frozen=True)
class PinnedCrd:
    file: str
    group: str
    kind: str
    url: str
    sha256: str


# The checksums are of the files at these tags; a version bump in components/versions.py changes
# the URL, and the old checksum then refuses the new file until it is pinned here too.
PINNED: tuple[PinnedCrd, ...] = (
    PinnedCrd(
        "kubeflow.org_pytorchjobs.yaml",
        "kubeflow.org",
        "PyTorchJob",
        f"{_TRAINER}/manifests/base/crds/kubeflow.org_pytorchjobs.yaml",
        "eb80e57a984cdc7ceefaaf3fc561e21b673c30cbb58589f2389528d2b2760d22",
    ),
    PinnedCrd(
        "ray.io_rayclusters.yaml",
        "ray.io",
        "RayCluster",
        f"{_KUBERAY}/helm-chart/kuberay-operator/crds/ray.io_rayclusters.yaml",
        "c44704442eef0c6721ad40c1d66782c8bd3fdab9d3344306a5820910a679baa1",
    ),
    PinnedCrd(
        "ray.io_rayjobs.yaml",
        "ray.io",
        "RayJob",
        f"{_KUBERAY}/helm-chart/kuberay-operator/crds/ray.io_rayjobs.yaml",
        "01a5cf3b17c1769fda44af7e82debcd98722f0c27b9ab84d084681c6649121f5",
    ),
    PinnedCrd(
        "karpenter.sh_nodepools.yaml",
        "karpenter.sh",
        "NodePool",
        f"{_KARPENTER}/pkg/apis/crds/karpenter.sh_nodepools.yaml",
        "3bb64a20c80776b77aa19a699ebdaf34480a7b2e7ec4ef890b43225b3517f878",
    ),
    PinnedCrd(
        "karpenter.k8s.aws_ec2nodeclasses.yaml",
        "karpenter.k8s.aws",
        "EC2NodeClass",
        f"{_KARPENTER}/pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "62dec59f01c0972d4503ca3ed25f243ba9c2f561be0d964ce7a14c8df406132f",
    ),
    # Kueue: the kinds the stack renders (components/kueue_objects.py) and those the queue
    # commands read (Workload, AdmissionCheck, Topology, Cohort). The plain bases carry no
    # conversion webhook stanza; the chart's templated copies do, with the same schemas.
    *(
        PinnedCrd(
            f"kueue.x-k8s.io_{plural}.yaml",
            "kueue.x-k8s.io",
            kind,
            f"{_KUEUE}/kueue.x-k8s.io_{plural}.yaml",
            sha256,
        )
        for plural, kind, sha256 in (
            (
                "resourceflavors",
                "ResourceFlavor",
                "19e339c47e9ca3fa2c9eeddd27715a512f765c4794ed859733408a9715720173",
            ),
            (
                "clusterqueues",
                "ClusterQueue",
                "e0a5fc9b370c70f3d993d4f599865817338ecf94187b30b15b12ff33c579bd55",
            ),
            (
                "localqueues",
                "LocalQueue",
                "dd10ef8d3578e7212fa52763549e7b6be0949793a5b924495fcd293330109fed",
            ),
            (
                "workloadpriorityclasses",
                "WorkloadPriorityClass",
                "0b755726aab05b8def9a53ee15b201eed3846bcffd1ff5528fed123f4ae03519",
            ),
            (
                "cohorts",
                "Cohort",
                "61fbe5ec55d45e7fae2d65321fb32517b197257ab78ad55316673183aac911c2",
            ),
            (
                "workloads",
                "Workload",
                "1970ff6fcc5dc1a29e3f290ed736032c5d4509c94efe2c642d64a244ad1b8aa5",
            ),
            (
                "admissionchecks",
                "AdmissionCheck",
                "2bf4003c0a3ea3d6ceab940c7a271ad211372dab59d2739acfa8b2bdb0724acb",
            ),
            (
                "topologies",
                "Topology",
                "f703575d3bb64d26f6e839f831e01646367ed41a89b3abf163f8e842ca1c4d2b",
            ),
        )
    ),
    # A TrainJob and its runtime (components/trainjob.py). Not ClusterTrainingRuntime, which
    # the stack does not render (its schema is the same TrainingRuntimeSpec).
    PinnedCrd(
        "trainer.kubeflow.org_trainjobs.yaml",
        "trainer.kubeflow.org",
        "TrainJob",
        f"{_TRAINER_V2}/trainer.kubeflow.org_trainjobs.yaml",
        "4e0ef90484ed1bbb60e4b6eb43a1bfffe033fd92e3d22504e0317324ce965c29",
    ),
    PinnedCrd(
        "trainer.kubeflow.org_trainingruntimes.yaml",
        "trainer.kubeflow.org",
        "TrainingRuntime",
        f"{_TRAINER_V2}/trainer.kubeflow.org_trainingruntimes.yaml",
        "a6b2f5c1bd761e425b9143fb18a7945bd6f3520df71fa373c4507758fbd7db56",
    ),
)

HOW_TO_PROVIDE = (
    f"run `make crds` (or `trainstack crds`) on a machine with internet, or set "
    f"{ENV_CRD_DIR} to a directory holding the pinned files"
)


@dataclass
class CrdSet:
    """What this machine has of the pinned CRDs."""

    directory: Path | None
    available: list[PinnedCrd] = field(default_factory=list)
    missing: list[PinnedCrd] = field(default_factory=list)
    # Why files are missing, beyond their absence: a refused checksum, a failed download.
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    def is_missing(self, group: str, kind: str) -> bool:
        return any(c.group == group and c.kind == kind for c in self.missing)

    def notice(self, kinds: list[str] | None = None) -> str | None:
        """One line naming the kinds (default: every missing one) that cannot be checked against
        their CRDs, and how to get them."""
        kinds = kinds if kinds is not None else [c.kind for c in self.missing]
        if not kinds:
            return None
        return (
            f"not checked against their upstream CRDs, which this machine does not have: "
            f"{', '.join(kinds)} ({HOW_TO_PROVIDE})"
        )


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trainstack" / "crds"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(path: Path, crd: PinnedCrd) -> str | None:
    """None when the file is the pinned one, "" when it is absent, else why it is refused."""
    if not path.is_file():
        return ""
    digest = sha256_of(path)
    if digest != crd.sha256:
        return f"{path}: sha256 {digest[:12]}... is not the pinned {crd.sha256[:12]}..."
    return None


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read()


class _Unreachable(Exception):
    """The download did not reach the file (no network, DNS, HTTP error)."""


# URLs that failed in this process: a plan run many times offline (the tests) asks once.
_unreachable: dict[str, str] = {}


def _fetch_into(directory: Path, crd: PinnedCrd, download: Callable[[str], bytes]) -> str | None:
    """Download one pinned CRD into `directory`: None on success, else why the file is refused.
    Raises _Unreachable when the download itself failed."""
    if crd.url in _unreachable:
        raise _Unreachable(_unreachable[crd.url])
    try:
        body = download(crd.url)
    except urllib.error.HTTPError as err:
        # The host answered: the other files may still be there.
        return f"{crd.url}: HTTP {err.code} {err.reason}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        _unreachable[crd.url] = f"cannot download the pinned CRDs ({crd.url}: {reason})"
        raise _Unreachable(_unreachable[crd.url]) from err
    digest = hashlib.sha256(body).hexdigest()
    if digest != crd.sha256:
        return f"{crd.url}: sha256 {digest[:12]}... is not the pinned {crd.sha256[:12]}..."
    directory.mkdir(parents=True, exist_ok=True)
    # Written beside its final name and renamed, so no half-written file is ever taken as cached.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{crd.file}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    os.replace(tmp, directory / crd.file)
    return None


def ensure(
    fetch: bool = True,
    download: Callable[[str], bytes] = _download,
    progress: Callable[[str], None] | None = None,
) -> CrdSet:
    """The pinned CRDs this machine has, downloading missing ones into the cache if `fetch`
    (never into $TRAINSTACK_CRD_DIR, which is the user's own mirror)."""
    env = os.environ.get(ENV_CRD_DIR)
    directory = Path(env).expanduser() if env else cache_dir()
    found = CrdSet(directory)
    if env and not directory.is_dir():
        found.problems.append(f"{ENV_CRD_DIR}={env!r} is not a directory")
    may_fetch = fetch and not env
    for crd in PINNED:
        why = _verified(directory / crd.file, crd)
        if why is not None and may_fetch:  # absent or refused: (re)download
            if progress:
                progress(f"fetching {crd.url}")
            try:
                why = _fetch_into(directory, crd, download)
            except _Unreachable as err:
                why = str(err)
                may_fetch = False  # one unreachable host is enough: do not wait on the others
        if why is None:
            found.available.append(crd)
        else:
            found.missing.append(crd)
            if why and why not in found.problems:
                found.problems.append(why)
    if not found.available:
        found.directory = None
    return found
