"""What an EKS add-on's configurationValues may turn on.

The Amazon CloudWatch Observability add-on (its Helm chart, aws-observability/helm-charts
amazon-cloudwatch-observability-6.4.0) turns on Application Signals unless the agent is given a
configuration of its own: with `agent.config` unset the chart builds one with
`application_signals` (templates/_helpers.tpl cloudwatch-agent.build-default-config), and then
sets its operator's `autoMonitor.monitorAllServices` (manager.modify-auto-monitor-config). The
operator's mutating webhook then injects instrumentation (init containers, environment, a
language agent loaded into the process) into the pods of every workload it monitors, the
training jobs' included: code and settings in pods the stack neither renders nor checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .base import MANDATORY, Rule, truthy

ADDON = "aws:eks/addon:Addon"
CLOUDWATCH = "amazon-cloudwatch-observability"


def _values(props: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        values = json.loads(props.get("configurationValues") or "{}")
    except (TypeError, ValueError):
        return {}
    return values if isinstance(values, Mapping) else {}


def _dig(value: Any, *keys: str) -> Any:
    for k in keys:
        value = value.get(k) if isinstance(value, Mapping) else None
    return value


def _no_auto_instrumentation(
    _type: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
) -> list[str]:
    if props.get("addonName") != CLOUDWATCH:
        return []
    values = _values(props)
    config = _dig(values, "agent", "config")
    out = []
    if not isinstance(config, Mapping):
        out.append(
            "agent.config is not set: the chart's default agent configuration turns on "
            "Application Signals, whose operator injects instrumentation into workload pods; "
            "give the agent a configuration of its own without application_signals"
        )
    elif _dig(config, "logs", "metrics_collected", "application_signals") is not None or (
        _dig(config, "traces", "traces_collected", "application_signals") is not None
    ):
        out.append(
            "agent.config collects application_signals: the add-on's operator then injects "
            "instrumentation into workload pods; leave it out"
        )
    if truthy(_dig(values, "manager", "applicationSignals", "autoMonitor", "monitorAllServices")):
        out.append(
            "manager.applicationSignals.autoMonitor.monitorAllServices instruments every "
            "workload's pods: leave it unset"
        )
    return out


RULES = [
    Rule(
        "cloudwatch-addon-no-auto-instrumentation",
        "The CloudWatch Observability add-on does not inject instrumentation into workload pods.",
        MANDATORY,
        (ADDON,),
        _no_auto_instrumentation,
    ),
]
