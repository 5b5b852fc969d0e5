"""Secret values under the mock engine (trainstack/offline/secrets.py): a secret stays wrapped in
the captured inputs and outputs, and the helpers unwrap or mask it."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from mock_engine import BASE_CONFIG, run

from trainstack.offline.sdk import rpc
from trainstack.offline.secrets import contains_secrets, is_secret, mask_secrets, unwrap_secrets


def test_secret_config_value_reaches_input_still_secret():
    def program():
        cfg = pulumi.Config()
        aws.sqs.Queue("with-token", tags={"token": cfg.require_secret("hfToken")})
        aws.sqs.Queue("team", tags={"team": cfg.require("team")})
        pulumi.export("token", cfg.require_secret("hfToken"))
        pulumi.export("team", cfg.require("team"))

    plan = run(
        program,
        config={**BASE_CONFIG, "trainstack:hfToken": "hf_abc", "trainstack:team": "ml"},
        secret_keys=["trainstack:hfToken"],
    )
    queue = plan.one("aws:sqs/queue:Queue", "with-token")
    # The SDK pushes secretness up to the top-level input: the whole `tags` map is secret.
    assert is_secret(queue.inputs["tags"])
    assert unwrap_secrets(queue.inputs) == {"tags": {"token": "hf_abc"}}
    assert queue.plain_inputs["tags"]["token"] == "hf_abc"
    assert mask_secrets(queue.inputs) == {"tags": "[secret]"}
    assert plan.one("aws:sqs/queue:Queue", "team").inputs == {"tags": {"team": "ml"}}

    assert plan.outputs == {"token": "hf_abc", "team": "ml"}
    assert plan.secret_outputs == {"token"}
    assert plan.masked_outputs == {"token": "[secret]", "team": "ml"}


def test_helpers_find_secrets_at_any_depth_and_keep_the_shape_around_them():
    # The wrapper as the engine passes it (pulumi/runtime/rpc.py: is_rpc_secret).
    token = {rpc._special_sig_key: rpc._special_secret_sig, "value": "hf_abc"}
    value = {"env": [{"name": "HF_TOKEN", "value": token}], "replicas": 2}
    assert contains_secrets(value) and not contains_secrets({"env": [{"value": "x"}]})
    assert not is_secret(value) and is_secret(token)
    assert unwrap_secrets(value) == {
        "env": [{"name": "HF_TOKEN", "value": "hf_abc"}],
        "replicas": 2,
    }
    assert mask_secrets(value) == {
        "env": [{"name": "HF_TOKEN", "value": "[secret]"}],
        "replicas": 2,
    }
    assert value["env"][0]["value"] is token  # the helpers copy, never edit in place
