"""Why a training job is not training: known failure causes from pods, events and a log tail.

`classify` takes what `kubectl get pods -o json`, `kubectl get events -o json` and
`kubectl logs --tail` return (the pods' and events' `items` as plain dicts, the log as text; the
pods' Node objects when they were read) and names every known cause it finds, each with what it
means and what to change (a stack config key or a command). It reads nothing itself, so it works
the same on live objects and on saved ones.

Causes come out most specific first: a root cause before the symptoms it produces elsewhere. A
worker that ran out of GPU memory leaves its peers in an NCCL watchdog timeout, and a NodePool at
its GPU limit leaves pods Pending and the others in a rendezvous timeout; reading the first cause
is enough in most cases.

The package imports the standard library only (tests/jobwatch/test_diagnose_stdlib.py holds it to
that), so it can run inside the trainer image. causes.py holds `Cause`, the rule table,
`classify` and `format_causes`; inputs.py what the rules read; the rules sit by concern in
config_errors.py, scheduling.py, nodes.py (with node_conditions.py: what the node monitoring
agent and the kubelet report), containers.py and collectives.py. A new rule: a function in the
module of its concern, and its code in causes.DETECTORS where it belongs in report order.
"""

from .causes import CODES, Cause, classify, format_causes

__all__ = ["CODES", "Cause", "classify", "format_causes"]
