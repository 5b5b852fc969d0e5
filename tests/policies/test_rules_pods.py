"""Workload rules (policies/rules/pods.py) on the captured PyTorchJob."""

from __future__ import annotations

import copy

from policy_cases import PTJ, _broken_rules, _captured, _job_container


def test_captured_job_with_plain_text_token_is_caught():
    props = _captured(PTJ)
    before = copy.deepcopy(props)
    _job_container(props)["env"].append({"name": "HF_TOKEN", "value": "hf_abc"})
    assert _broken_rules(PTJ, props, before) == {"no-plaintext-secrets-in-env"}
