"""Every pinned version of a chart, operator, AMI or Kubernetes release, in one place.

Stack config can override each of them (see `components.config`); these are the defaults that the
tests and the offline plan are checked against.
"""

from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

# The torch/CUDA/driver facts (NVIDIA_DRIVER_MAX_CUDA, TORCH_CUDA_BUILDS) live with the image
# tooling, whose CodeBuild preflight imports them without this package; named here as well so that
# every pin is found through this module.
from imagebuild.cuda_versions import NVIDIA_DRIVER_MAX_CUDA as NVIDIA_DRIVER_MAX_CUDA
from imagebuild.cuda_versions import TORCH_CUDA_BUILDS as TORCH_CUDA_BUILDS

# EKS Kubernetes versions (EKS release calendar, as of 2026-12): standard support 1.35;
# extended support 1.32 (until 2027-03-23), 1.33 (2027-07-29) and 1.34, whose standard support
# ended 2026-12-02. 1.31 left extended support on 2026-11-26: EKS upgrades such clusters itself.
KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34", "1.35")
KUBERNETES_DEFAULT = "1.34"
# The last day of each version's standard support on EKS (14 months after its EKS release; the
# user guide's "Kubernetes version lifecycle" page and endoflife.date/amazon-eks agree). After it
# the version is in extended support, whose control plane is billed at a higher hourly rate
# (trainstack/cost prices it).
STANDARD_SUPPORT_ENDS = {
    "1.32": "2026-03-23",
    "1.33": "2026-07-29",
    "1.34": "2026-12-02",
    "1.35": "2027-03-27",
}


def in_extended_support(version: str, on: str) -> bool:
    """Whether EKS bills `version`'s control plane at the extended-support rate on ISO date `on`
    (a version this table does not know is taken as standard: unknown, not guessed dearer)."""
    ends = STANDARD_SUPPORT_ENDS.get(str(version))
    return ends is not None and on > ends


# The vpc-cni EKS add-on: pod networking and, since v1.14.0, the network policy agent that
# enforces the jobs namespace's NetworkPolicies (amazon-vpc-cni-k8s v1.14.0
# charts/aws-vpc-cni/values.yaml: enableNetworkPolicy). Unpinned, pulumi-eks takes the newest
# build for the cluster's version when it creates the add-on, so stacks of the same code differ.
# The EKS User Guide's "Amazon VPC CNI versions" table lists this build as the latest for
# Kubernetes 1.28-1.34; 1.35 is not in it, so a 1.35 cluster names its build in
# `cluster.vpcCniVersion` (config/cluster.py).
VPC_CNI_ADDON_VERSION = "v1.20.4-eksbuild.1"
VPC_CNI_KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34")
# The first release with the network policy agent.
VPC_CNI_NETWORK_POLICY_SINCE = (1, 14)

# The EKS node monitoring agent add-on (aws/eks-node-monitoring-agent v1.7.0, 2026-08-04): it
# turns GPU, network, storage, kernel and runtime faults into node conditions, which node repair
# acts on (components/node_health.py). The `-eksbuild.1` suffix follows the chart's own image tag
# at v1.7.0 (charts/eks-node-monitoring-agent/values.yaml nodeAgent.image.tag); the add-on's
# build list (`aws eks describe-addon-versions --addon-name eks-node-monitoring-agent`) could not
# be read offline, so a stack can name another build in `nodeHealth.agentVersion`.
NODE_MONITORING_AGENT_VERSION = "v1.7.0-eksbuild.1"

# Karpenter: APIs karpenter.sh/v1 and karpenter.k8s.aws/v1.
KARPENTER_CHART = "oci://public.ecr.aws/karpenter/karpenter"
KARPENTER_VERSION = "1.14.1"
# Pinned AL2023 release: `@latest` would replace every node at each AMI release.
KARPENTER_AMI_ALIAS = "al2023@v20260818"

NVIDIA_DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
NVIDIA_DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
# 0.19.0-0.19.2 enabled MOFED by default, which broke EFA nodes.
NVIDIA_DEVICE_PLUGIN_VERSION = "0.20.0"

EFA_DEVICE_PLUGIN_REPO = "https://aws.github.io/eks-charts"
EFA_DEVICE_PLUGIN_CHART = "aws-efa-k8s-device-plugin"
EFA_DEVICE_PLUGIN_VERSION = "v0.5.29"

# No Helm chart for v1.x: kustomize overlay applied server-side (its CRDs are too large for
# client-side apply).
TRAINING_OPERATOR_REPO = (
    "https://github.com/kubeflow/trainer"  # formerly kubeflow/training-operator
)
TRAINING_OPERATOR_OVERLAY = "manifests/overlays/standalone"
TRAINING_OPERATOR_VERSION = "v1.9.3"

# Kubeflow Trainer v2 (TrainJob, TrainingRuntime; API trainer.kubeflow.org/v1alpha1), installed only
# for a stack with a `framework: trainjob` job (components/operators.py). 2.2.1, not 2.3.0: the
# Kueue release the stack pins (v0.19.2) is built against github.com/kubeflow/trainer/v2 v2.2.1
# (kueue go.mod at v0.19.2), and Kueue's own note on moving to Trainer 2.3 says the two are not API
# compatible. The chart pulls JobSet as its subchart at the version its Chart.yaml pins
# (kubeflow/trainer v2.2.1 charts/kubeflow-trainer/Chart.yaml: jobset 0.11.0); JobSet's published
# 0.11.0 chart runs registry.k8s.io/jobset/jobset:v0.11.0 (kubernetes-sigs/jobset v0.11.0
# hack/helm-chart-package.sh).
KUBEFLOW_TRAINER_CHART = "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
KUBEFLOW_TRAINER_VERSION = "2.2.1"
KUBEFLOW_TRAINER_JOBSET_VERSION = "0.11.0"

KUBERAY_REPO = "https://ray-project.github.io/kuberay-helm/"
KUBERAY_CHART = "kuberay-operator"
KUBERAY_VERSION = "1.7.0"
# The Ray the trainer image installs: pinned once, for pip, in this file.
RAY_REQUIREMENTS = Path(__file__).resolve().parents[1] / "trainer" / "requirements-ray.txt"


@cache
def ray_version() -> str:
    """The `ray==X` pin of trainer/requirements-ray.txt: a RayJob declares it as its
    rayClusterSpec.rayVersion, which decides the probes KubeRay injects (training_job.py)."""
    for line in RAY_REQUIREMENTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        req = Requirement(text)
        if req.name == "ray":
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if len(pins) != 1 or "*" in pins[0]:
                raise ValueError(
                    f"{RAY_REQUIREMENTS.name}: pin ray to one release (ray==X.Y.Z),"
                    f" not {req.specifier}"
                )
            return pins[0]
    raise ValueError(f"{RAY_REQUIREMENTS.name}: no `ray` requirement")


# Kueue (components/kueue.py): job queueing, GPU quotas, priorities and preemption. API
# kueue.x-k8s.io/v1beta2 (served and stored by every CRD at v0.19.2). The chart in git points at
# the staging image; the published one is rewritten to this registry and tag
# (kubernetes-sigs/kueue v0.19.2 hack/helm-chart-package.sh), which the stack sets itself.
KUEUE_CHART = "oci://registry.k8s.io/kueue/charts/kueue"
KUEUE_VERSION = "0.19.2"
KUEUE_IMAGE = "registry.k8s.io/kueue/kueue"


# The Amazon CloudWatch Observability EKS add-on (components/observability.py). Its build numbers
# follow the Helm chart it packages (aws-observability/helm-charts tag
# amazon-cloudwatch-observability-6.4.0, released 2026-07-21), whose values.yaml is the schema of
# the add-on's configurationValues; that chart runs CloudWatch agent 1.300070.0 and agent
# operator 3.6.0. EKS's own build list (describe-addon-versions) cannot be read offline: public
# stacks pin v6.4.0-eksbuild.1 for Kubernetes 1.31-1.35 and one records it as the default build
# for 1.36 on 2026-08-08, the only eksbuild of 6.4.0 seen. Pod Identity needs v3.1.0 or later.
CLOUDWATCH_OBSERVABILITY_ADDON_VERSION = "v6.4.0-eksbuild.1"
CLOUDWATCH_OBSERVABILITY_CHART_VERSION = "6.4.0"
CLOUDWATCH_AGENT_VERSION = "1.300070.0"
CLOUDWATCH_OBSERVABILITY_POD_IDENTITY_SINCE = (3, 1, 0)
