"""Config refuses the node labels that Kubernetes, EKS or Karpenter would refuse, or that would
take over what the stack relies on: one line per problem, naming the key (checks.node_labels,
shared by node groups and NodePools).

Label syntax: k8s.io/apimachinery pkg/util/validation/validation.go (IsQualifiedName,
IsValidLabelValue). Reserved domains: EKS CreateNodegroup ("Label cannot contain reserved prefixes
[kubernetes.io/, k8s.io/, eks.amazonaws.com/]"), Karpenter v1.14.1 NodePool CRD
(karpenter.sh_nodepools.yaml, template.metadata.labels rules); and the keys the stack sets.
"""

import copy

import pytest

from components import config, karpenter, scheduling
from components.config import ConfigError, NodeGroupConfig, NodePoolConfig, checks
from trainstack.offline import schemas

# Where node labels are set: (config path to the pool, its key as messages spell it).
LABEL_PLACES = [
    (("nodeGroups", "gpu-g5"), "trainstack:nodeGroups.gpu-g5.labels"),
    (("nodeGroups", "system"), "trainstack:nodeGroups.system.labels"),
    (("karpenter", "nodePools", "small"), "trainstack:karpenter.nodePools.small.labels"),
]

# (key, value, a phrase of the message)
LABELS_REFUSED = [
    # syntax of the key
    ("-team", "ml", "not a Kubernetes label key"),
    ("team-", "ml", "not a Kubernetes label key"),
    ("a/b/c", "ml", "not a Kubernetes label key"),
    ("/team", "ml", "prefix part must be non-empty"),
    ("example.com/", "ml", "not a Kubernetes label key"),
    ("Example.com/team", "ml", "prefix part must be a lowercase RFC 1123 subdomain"),
    ("ex_ample.com/team", "ml", "prefix part must be a lowercase RFC 1123 subdomain"),
    ("t" * 64, "ml", "at most 63"),
    ("a" * 254 + "/team", "ml", "prefix part must be a lowercase RFC 1123 subdomain"),
    ("team name", "ml", "not a Kubernetes label key"),
    # syntax of the value
    ("team", "machine learning", "not a Kubernetes label value"),
    ("team", "-ml", "not a Kubernetes label value"),
    ("team", "ml/", "not a Kubernetes label value"),
    ("team", "v" * 64, "at most 63"),
    # reserved by Kubernetes / EKS (a domain and its subdomains)
    ("kubernetes.io/foo", "x", "'kubernetes.io' domain is reserved for Kubernetes"),
    ("node-role.kubernetes.io/gpu", "", "'kubernetes.io' domain"),
    ("node.kubernetes.io/instance-type", "g5.xlarge", "'kubernetes.io' domain"),
    ("topology.kubernetes.io/zone", "us-west-2a", "'kubernetes.io' domain"),
    ("k8s.io/foo", "x", "'k8s.io' domain"),
    ("node.k8s.io/foo", "x", "'k8s.io' domain"),
    ("eks.amazonaws.com/nodegroup", "gpu-g5", "'eks.amazonaws.com' domain is reserved for EKS"),
    ("eks.amazonaws.com/capacityType", "SPOT", "'eks.amazonaws.com' domain"),
    # restricted by Karpenter
    ("karpenter.sh/capacity-type", "spot", "'karpenter.sh' domain is restricted by Karpenter"),
    ("karpenter.sh/nodepool", "other", "'karpenter.sh' domain"),
    ("karpenter.k8s.aws/instance-family", "g5", "'karpenter.k8s.aws' domain"),
    # the stack's own
    (scheduling.POOL_LABEL, "other", "one of the stack's own node labels"),
    (scheduling.GPU_LABEL, "false", "one of the stack's own node labels"),
    (scheduling.EFA_LABEL, "true", "one of the stack's own node labels"),
    (scheduling.SYSTEM_LABEL, "true", "one of the stack's own node labels"),
]

LABELS_ACCEPTED = [
    ("team", "ml"),
    ("example.com/team", "ml"),
    ("example.com/flag", ""),
    ("a.b-c.example.com/Team_Name.v2", "Value_1.x-y"),
    ("t" * 63, "v" * 63),
    ("p" * 200 + ".com/team", "ml"),
    # look like reserved domains but are not them or their subdomains
    ("notkubernetes.io/team", "ml"),
    ("kubernetes.io.example.com/team", "ml"),
    ("trainstack.iox/team", "ml"),
    ("mytrainstack.io/team", "ml"),
    # the stack's domain is shared; only the keys it sets are its own (Pulumi.efa.yaml uses this)
    ("trainstack.io/interconnect", "efa"),
]


def _parse_with_label(dev, place, key, value):
    data = copy.deepcopy(dev)
    node = data
    for part in place:
        node = node[part]
    node["labels"] = {key: value}
    return config.parse(data, "us-west-2")


@pytest.mark.parametrize("place,where", LABEL_PLACES, ids=[w for _, w in LABEL_PLACES])
@pytest.mark.parametrize(
    "key,value,phrase", LABELS_REFUSED, ids=[f"{k[:30]}={v[:20]}" for k, v, _ in LABELS_REFUSED]
)
def test_node_label_refused_in_one_line_naming_the_key(dev, place, where, key, value, phrase):
    with pytest.raises(ConfigError) as err:
        _parse_with_label(dev, place, key, value)
    assert len(err.value.issues) == 1, err.value.issues
    line = err.value.issues[0]
    assert line.startswith(f"{where}: {key!r}"), line
    assert phrase in line, line
    assert "\n" not in line


@pytest.mark.parametrize("place,where", LABEL_PLACES, ids=[w for _, w in LABEL_PLACES])
@pytest.mark.parametrize(
    "key,value", LABELS_ACCEPTED, ids=[f"{k[:30]}={v[:20]}" for k, v in LABELS_ACCEPTED]
)
def test_node_label_accepted(dev, place, where, key, value):
    cfg = _parse_with_label(dev, place, key, value)
    pool = cfg.node_groups.get(place[-1]) or cfg.karpenter.node_pools[place[-1]]
    assert pool.labels == {key: value}


def test_every_label_the_stack_sets_is_refused_from_config():
    """Whatever node_labels writes, a user label may not: the reserved list follows the code."""
    stack_keys = set(scheduling.node_labels("p", gpu=True, efa=True)) | set(
        scheduling.node_labels("p", gpu=False)
    )
    refused = {k for k, _, phrase in LABELS_REFUSED if "stack's own" in phrase}
    assert stack_keys == set(config.STACK_LABELS)
    assert stack_keys <= refused
    for k in stack_keys:
        assert checks.node_labels(("nodeGroups", "g"), {k: "x"}), k


def _gpu_group(labels):
    return NodeGroupConfig(instance_types=["g5.xlarge"], min_size=0, max_size=1, labels=labels)


def test_stack_labels_win_over_user_labels_even_past_the_check():
    """Models are built directly here, bypassing config checks: the merge order alone must keep
    the pool, GPU and EFA labels the stack's."""
    hostile = {
        scheduling.POOL_LABEL: "other",
        scheduling.GPU_LABEL: "false",
        scheduling.EFA_LABEL: "false",
        "team": "ml",
    }
    labels = scheduling.node_labels("gpu-g5", _gpu_group(hostile), efa=True)
    assert labels == {
        scheduling.POOL_LABEL: "gpu-g5",
        scheduling.GPU_LABEL: "true",
        scheduling.EFA_LABEL: "true",
        "team": "ml",
    }

    pool_cfg = NodePoolConfig(instance_families=["g5"], max_gpus=4, labels=hostile)
    rendered = karpenter.render_node_pool("small", pool_cfg)["spec"]["template"]["metadata"]
    assert rendered["labels"][scheduling.POOL_LABEL] == "small"
    assert rendered["labels"][scheduling.GPU_LABEL] == "true"
    assert rendered["labels"]["team"] == "ml"


@pytest.mark.parametrize(
    "key",
    [
        "karpenter.sh/nodepool",
        "karpenter.sh/foo",
        "sub.karpenter.sh/foo",
        "karpenter.k8s.aws/foo",
        "kubernetes.io/hostname",
    ],
)
def test_karpenter_domains_refused_by_config_are_refused_by_the_nodepool_crd(key, pinned_crds):
    """The upstream CRD's own rules agree: a NodePool carrying the label fails validation. (The
    CRD lets a few well-known keys through, e.g. karpenter.sh/capacity-type, which Karpenter sets
    from the requirements; config refuses the whole domain: a label there is never the user's.)"""
    assert checks.node_labels(("karpenter", "nodePools", "small"), {key: "x"})
    body = karpenter.render_node_pool("small", NodePoolConfig(instance_families=["g5"], max_gpus=4))
    body["spec"]["template"]["metadata"]["labels"][key] = "x"
    errors = schemas.validate_object(body, "1.34")
    assert any("restricted" in e for e in errors), errors
