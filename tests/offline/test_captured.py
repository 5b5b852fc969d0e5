"""What the engine records (trainstack/offline/captured.py): registrations with their parents, URNs,
and the lookups of OfflinePlan."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest
from mock_engine import STACK_URN, run


class _Storage(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:test:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(f"{name}-key", opts=child)
        self.repo = aws.ecr.Repository(f"{name}-repo", opts=child)
        self.register_outputs({"keyArn": self.key.arn})


def test_local_component_and_children_are_captured_with_parents():
    def program():
        outer = _Storage("ckpt")
        _Storage("inner", opts=pulumi.ResourceOptions(parent=outer))

    plan = run(program)
    comp = plan.one("trainstack:test:Storage", "ckpt")
    assert not comp.custom and not comp.remote
    assert comp.parent == STACK_URN
    assert comp.urn == "urn:pulumi:dev::trainstack::trainstack:test:Storage::ckpt"
    assert plan.one("aws:kms/key:Key", "inner-key").urn == (
        "urn:pulumi:dev::trainstack::trainstack:test:Storage$trainstack:test:Storage"
        "$aws:kms/key:Key::inner-key"
    )

    kids = {(r.type, r.name) for r in plan.children_of(comp.urn)}
    assert kids == {
        ("aws:kms/key:Key", "ckpt-key"),
        ("aws:ecr/repository:Repository", "ckpt-repo"),
        ("trainstack:test:Storage", "inner"),
    }
    inner = plan.one("trainstack:test:Storage", "inner")
    assert {r.name for r in plan.children_of(inner.urn)} == {"inner-key", "inner-repo"}
    assert len(plan.descendants_of(comp.urn)) == 5

    with pytest.raises(LookupError, match="inner-key"):
        plan.one("aws:kms/key:Key")  # two of them: the message lists what exists
    with pytest.raises(LookupError, match="types present"):
        plan.one("aws:sqs/queue:Queue")
