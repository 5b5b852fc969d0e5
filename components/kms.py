"""The stack's customer managed KMS keys, made one way: rotated yearly (the pack's `kms-rotation`
rule) with a 30-day deletion window, so a key destroyed by mistake can still be cancelled, and
an alias when people look the key up by name."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def rotated_key(
    name: str,
    description: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
    *,
    alias: pulumi.Input[str] | None = None,
    policy: pulumi.Input[str] | None = None,
) -> aws.kms.Key:
    """A rotated key named `name` in the stack (and its alias under the same name, if given);
    `policy` replaces the default key policy."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        tags=tags,
        opts=opts,
    )
    if alias is not None:
        aws.kms.Alias(name, name=alias, target_key_id=key.key_id, opts=opts)
    return key
