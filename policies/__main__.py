"""The policy pack: `pulumi preview --policy-pack policies`. Only wiring lives here, because
constructing a PolicyPack starts the analyzer server and blocks; the rules are in policies.rules.
"""

from __future__ import annotations

import os
import sys

# Run as a script by the CLI: make `policies` importable as a package from the project root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies import (
    ALL_RULES,
    PACK_NAME,
    STACK_RULES,
    Rule,
    StackRule,
    from_upstream_install,
)
from policies.rules.base import described

LEVELS = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
    "disabled": EnforcementLevel.DISABLED,
}


def _validator(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        # Rule.__call__ fills in the schema's defaults for keys the config leaves out.
        if from_upstream_install(args.urn):
            return
        config = dict(args.get_config() or {})
        for message in rule(args.resource_type, dict(args.props), config):
            report_violation(message, args.urn)

    return validate


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    schema = PolicyConfigSchema(rule.config_schema) if rule.config_schema else None
    return ResourceValidationPolicy(
        name=rule.name,
        description=described(rule),
        validate=_validator(rule),
        enforcement_level=LEVELS[rule.enforcement],
        config_schema=schema,
    )


def _stack_validator(rule: StackRule):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        # At stack validation the props are outputs: a bucket is known by its `bucket` name.
        seen = [
            (
                r.urn,
                r.resource_type,
                dict(r.props),
                tuple(str(n) for n in (r.props.get("bucket"), r.name) if n),
            )
            for r in args.resources
            if not from_upstream_install(r.urn)
        ]
        for urn, message in rule(seen, dict(args.get_config() or {})):
            report_violation(message, urn)

    return validate


def policies() -> list:
    return [resource_policy(r) for r in ALL_RULES] + [
        StackValidationPolicy(
            name=r.name,
            description=described(r),
            validate=_stack_validator(r),
            enforcement_level=LEVELS[r.enforcement],
            config_schema=PolicyConfigSchema(r.config_schema) if r.config_schema else None,
        )
        for r in STACK_RULES
    ]


if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=policies())
