"""The CIS Amazon EKS Benchmark's Kubernetes policies section (4.1 RBAC and Service Accounts,
4.2 Pod Security Standards, 4.3 CNI Plugin, 4.4 Secrets Management, 4.5 General Policies).

IDs and titles, with "(Automated)"/"(Manual)", are those of CIS Amazon EKS Benchmark v1.8.0 as
aquasecurity/kube-bench ships them (cfg/eks-1.8.0/policies.yaml, its newest EKS benchmark; the
CIS PDF itself is behind a login). kube-bench carries no profile levels: the Level of each
recommendation that keeps its title from earlier versions is the one published for it by
ComplianceAsCode/content controls/cis_eks.yml (CIS EKS v1.0.1) and Lacework's CIS Amazon EKS
1.1.0 policy catalog (docs.lacework.net/catalog/policies, lacework-global-331..347); 4.3.1
takes the level of its predecessor of the same number and description ("Ensure latest CNI
version is used"). For 4.1.7-4.1.12 no open source we could read publishes the level; they are
marked so, and each is enforced by a mandatory rule regardless.
"""

from __future__ import annotations

from . import Baseline, Control

VERSION = "1.8.0"
SOURCE = (
    "https://github.com/aquasecurity/kube-bench/blob/main/cfg/eks-1.8.0/policies.yaml "
    "(IDs, titles, Automated/Manual); levels: https://github.com/ComplianceAsCode/content/"
    "blob/master/controls/cis_eks.yml and https://docs.lacework.net/catalog/policies"
)
UNPUBLISHED = "level not in the open sources"

# The objects these concern that the stack does not create itself (EKS-managed ClusterRoles,
# the namespaces EKS and the charts make) are out of the pack's sight; the rules hold what the
# stack declares.
_CONTROLS = (
    # --- 4.1 RBAC and Service Accounts
    Control(
        "CIS EKS 4.1.1",
        "Ensure that the cluster-admin role is only used where required",
        "Level 1, Automated",
        "RoleBinding, ClusterRoleBinding",
    ),
    Control(
        "CIS EKS 4.1.2", "Minimize access to secrets", "Level 1, Automated", "Role, ClusterRole"
    ),
    Control(
        "CIS EKS 4.1.3",
        "Minimize wildcard use in Roles and ClusterRoles",
        "Level 1, Automated",
        "Role, ClusterRole",
    ),
    Control(
        "CIS EKS 4.1.4", "Minimize access to create pods", "Level 1, Automated", "Role, ClusterRole"
    ),
    Control(
        "CIS EKS 4.1.5",
        "Ensure that default service accounts are not actively used.",
        "Level 1, Automated",
        "pods, RoleBinding",
    ),
    Control(
        "CIS EKS 4.1.6",
        "Ensure that Service Account Tokens are only mounted where necessary",
        "Level 1, Automated",
        "pods, ServiceAccount",
    ),
    Control(
        "CIS EKS 4.1.7",
        "Cluster Access Manager API to streamline and enhance the management of access controls "
        "within EKS clusters",
        f"Manual ({UNPUBLISHED})",
        "AWS::EKS::Cluster",
    ),
    Control(
        "CIS EKS 4.1.8",
        "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster",
        f"Manual ({UNPUBLISHED})",
        "Role, ClusterRole",
    ),
    Control(
        "CIS EKS 4.1.9",
        "Minimize access to create PersistentVolume objects",
        f"Manual ({UNPUBLISHED})",
        "Role, ClusterRole",
    ),
    Control(
        "CIS EKS 4.1.10",
        "Minimize access to the proxy sub-resource of Node objects",
        f"Manual ({UNPUBLISHED})",
        "Role, ClusterRole",
    ),
    Control(
        "CIS EKS 4.1.11",
        "Minimize access to webhook configuration objects",
        f"Manual ({UNPUBLISHED})",
        "Role, ClusterRole",
    ),
    Control(
        "CIS EKS 4.1.12",
        "Minimize access to the service account token creation",
        f"Manual ({UNPUBLISHED})",
        "Role, ClusterRole",
    ),
    # --- 4.2 Pod Security Standards
    Control(
        "CIS EKS 4.2.1",
        "Minimize the admission of privileged containers",
        "Level 1, Automated",
        "pods, Namespace",
    ),
    Control(
        "CIS EKS 4.2.2",
        "Minimize the admission of containers wishing to share the host process ID namespace",
        "Level 1, Automated",
        "pods, Namespace",
    ),
    Control(
        "CIS EKS 4.2.3",
        "Minimize the admission of containers wishing to share the host IPC namespace",
        "Level 1, Automated",
        "pods, Namespace",
    ),
    Control(
        "CIS EKS 4.2.4",
        "Minimize the admission of containers wishing to share the host network namespace",
        "Level 1, Automated",
        "pods, Namespace",
    ),
    Control(
        "CIS EKS 4.2.5",
        "Minimize the admission of containers with allowPrivilegeEscalation",
        "Level 1, Automated",
        "pods, Namespace",
    ),
    # --- 4.3 CNI Plugin
    Control(
        "CIS EKS 4.3.1",
        "Ensure CNI plugin supports network policies",
        "Level 1, Manual",
        "AWS::EKS::Addon (vpc-cni)",
    ),
    Control(
        "CIS EKS 4.3.2",
        "Ensure that all Namespaces have Network Policies defined",
        "Level 2, Automated",
        "Namespace, NetworkPolicy",
    ),
    # --- 4.4 Secrets Management
    Control(
        "CIS EKS 4.4.1",
        "Prefer using secrets as files over secrets as environment variables",
        "Level 2, Automated",
        "pods",
        reason=(
            "Not enforced. The one secret a workload reads, the Hugging Face token, reaches the "
            "jobs and the vLLM servers as HF_TOKEN by secretKeyRef from a Secret, because that "
            "variable is what the trainer (trainer/init_sources.py) and vLLM read; the other "
            "Secret, the dev pod's SSH keys, is mounted as a file. The rules that apply hold "
            "the rest: no-plaintext-secrets-in-env refuses a credential as a literal value, "
            "configmap-no-credentials one in a ConfigMap, and eks-secrets-encrypted keeps the "
            "Secret envelope-encrypted."
        ),
    ),
    Control(
        "CIS EKS 4.4.2",
        "Consider external secret storage",
        "Level 2, Manual",
        "Secret",
        reason=(
            "Considered, not used: the stack's two Kubernetes Secrets are made from Pulumi "
            "config secrets (encrypted in the stack's state) and stored envelope-encrypted with "
            "the stack's KMS key (eks-secrets-encrypted); AWS credentials are never stored, "
            "pods get them from EKS Pod Identity. No external store or CSI driver is deployed, "
            "so no input of the plan expresses this recommendation."
        ),
    ),
    # --- 4.5 General Policies
    Control(
        "CIS EKS 4.5.1",
        "Create administrative boundaries between resources using namespaces",
        "Level 1, Manual",
        "Namespace",
    ),
    Control(
        "CIS EKS 4.5.2",
        "The default namespace should not be used",
        "Level 2, Automated",
        "namespaced objects, Helm releases",
    ),
)

CIS_EKS = Baseline(
    name="CIS Amazon EKS Benchmark",
    version=VERSION,
    source=SOURCE,
    controls=_CONTROLS,
)
