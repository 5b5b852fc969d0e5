"""Typed stack config, one module per section (each model with its checks): cluster, network,
pools (node groups, Karpenter NodePools, their `facts()`), addons, image, artifacts,
workloads (volumes, training jobs), dev_pod; checks.py holds the checks several sections share,
sizing.py what fits on a pool's node, platform.py the whole config and its parsing.
These are the names importers use.
"""

from .addons import AddonsConfig
from .artifacts import ArtifactsConfig
from .base import (
    EFA_LABEL,
    GPU_LABEL,
    POOL_LABEL,
    PROJECT,
    STACK_LABELS,
    SYSTEM_LABEL,
    ConfigError,
    key,
)
from .cluster import ClusterConfig, max_cluster_name_length
from .dev_pod import DevPodConfig
from .image import ImageConfig
from .network import NetworkConfig
from .node_health import NodeHealthConfig
from .notifications import NotificationsConfig
from .observability import ObservabilityConfig
from .platform import SECRET_KEYS, PlatformConfig, load, parse, parse_pulumi_config
from .pools import KarpenterConfig, NodeGroupConfig, NodePoolConfig, PoolFacts
from .sizing import PodSize, pod_size
from .workloads import DEFAULT_STORAGE_CLASS, TrainingJobConfig, VolumeConfig

__all__ = [
    "DEFAULT_STORAGE_CLASS",
    "EFA_LABEL",
    "GPU_LABEL",
    "POOL_LABEL",
    "PROJECT",
    "SECRET_KEYS",
    "STACK_LABELS",
    "SYSTEM_LABEL",
    "AddonsConfig",
    "ArtifactsConfig",
    "ClusterConfig",
    "ConfigError",
    "DevPodConfig",
    "ImageConfig",
    "KarpenterConfig",
    "NetworkConfig",
    "NodeHealthConfig",
    "NotificationsConfig",
    "ObservabilityConfig",
    "NodeGroupConfig",
    "NodePoolConfig",
    "PlatformConfig",
    "PodSize",
    "PoolFacts",
    "TrainingJobConfig",
    "VolumeConfig",
    "key",
    "load",
    "max_cluster_name_length",
    "parse",
    "parse_pulumi_config",
    "pod_size",
]
