"""run_program (trainstack/offline/engine.py): a run is isolated from the next, a program's error
propagates unchanged, components never echo their inputs, legacy transformations run."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from mock_engine import BASE_CONFIG, run


def test_remote_kubernetes_components_do_not_echo_inputs():
    def program():
        chart = k8s.helm.v4.Chart(
            "nvidia",
            chart="nvidia-device-plugin",
            version="0.20.0",
            repository_opts={"repo": "https://nvidia.github.io/k8s-device-plugin"},
        )
        pulumi.export("resources", chart.resources)

    plan = run(program)
    chart = plan.one("kubernetes:helm.sh/v4:Chart", "nvidia")
    assert chart.remote and not chart.custom
    assert chart.inputs["version"] == "0.20.0"
    assert plan.outputs.get("resources") is None


class ConfigProblem(ValueError):
    pass


def test_program_exception_propagates_unchanged():
    def program():
        aws.kms.Key("before-error")
        raise ConfigProblem("nodeGroups.gpu-g5.maxSize must be >= minSize")

    with pytest.raises(ConfigProblem, match="maxSize must be >= minSize") as err:
        run(program)
    assert type(err.value) is ConfigProblem

    # The next run is clean: no leftover root stack, config or registrations.
    plan = run(lambda: pulumi.export("ok", True))
    assert plan.outputs == {"ok": True}
    assert plan.resources == []


def test_consecutive_runs_do_not_leak_exports_or_config():
    def first():
        pulumi.export("first", aws.kms.Key("k1").arn)
        pulumi.export("secretCfg", pulumi.Config().require_secret("x"))

    def second():
        aws.kms.Key("k2")
        pulumi.export("second", 2)
        pulumi.export("x", pulumi.Config().get("x", "unset"))

    plan1 = run(first, config={**BASE_CONFIG, "trainstack:x": "one"}, secret_keys=["trainstack:x"])
    plan2 = run(second)
    assert set(plan1.outputs) == {"first", "secretCfg"}
    assert plan1.secret_outputs == {"secretCfg"}
    assert plan2.outputs == {"second": 2, "x": "unset"}
    assert plan2.secret_outputs == set()
    assert [r.name for r in plan2.resources] == ["k2"]


def test_legacy_transformations_run_under_mocks():
    # Trap 6 (docs/offline-testing.md): legacy `transformations` run; new-style `transforms` do not (test those directly).
    def tag_everything(args: pulumi.ResourceTransformationArgs):
        if args.type_ == "aws:sqs/queue:Queue":
            args.props["tags"] = {"team": "ml"}
            return pulumi.ResourceTransformationResult(args.props, args.opts)
        return None

    def program():
        aws.sqs.Queue("q", opts=pulumi.ResourceOptions(transformations=[tag_everything]))

    plan = run(program)
    assert plan.one("aws:sqs/queue:Queue").inputs["tags"] == {"team": "ml"}
