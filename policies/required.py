"""Values the pack requires that the stack config and components must agree with.

One source of truth: the rules take their defaults from here, components build with these
values, and `components.config` refuses stack config that asks for anything else, so a stack
the pack would block fails at config time under its key (exit 2) instead of after planning.
Pure constants: importing this must not pull in pulumi.
"""

from __future__ import annotations

# EKS control-plane log types the logging rule demands: API calls, audit, and who authenticated.
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")

# Pods get AWS credentials from Pod Identity, never from the node's IMDS: one hop (the node
# itself) keeps a pod's IMDS requests from ever getting a response.
IMDS_HOP_LIMIT = 1

# The stack's one root-run step (components/volume_prepare.py): a Job that makes a new FSx for
# Lustre file system's root writable for the jobs' uid. It runs in a namespace of its own, outside
# the restricted jobs namespace; the pack exempts exactly these Jobs there from the two non-root
# controls, and nothing else may run in that namespace.
VOLUME_PREPARE_NAMESPACE = "trainstack-volumes"
VOLUME_PREPARE_PREFIX = "prepare-"

# On a pod template: the EKS Pod Identity association its AWS credentials come from (the
# association's ID). The pack checks that the pod runs under that association's ServiceAccount,
# and that no pod runs under a ServiceAccount with an association it does not declare.
POD_IDENTITY_ANNOTATION = "trainstack.io/pod-identity-association"

# The oldest Kubernetes version EKS supports (extended support included; EKS User Guide,
# "Kubernetes version lifecycle"). components/versions.py offers nothing older
# (tests/policies/test_rules_eks.py holds the two together).
OLDEST_EKS_KUBERNETES = "1.32"

# The fewest days a CloudWatch log group of the stack keeps its logs (EKS audit and
# authenticator logs, build logs, flow logs): shorter deletes the trail before an investigation
# reads it. The pack's log-group-min-retention and the config's logRetentionDays check share it.
MIN_LOG_RETENTION_DAYS = 30
