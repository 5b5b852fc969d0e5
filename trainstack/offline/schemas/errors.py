"""What every validator of this package reports: the error type for missing schemas, the
(path, message) pairs before formatting, and jsonschema's errors turned into such pairs."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

# An error before formatting: (path parts, message).
Err = tuple[list[Any], str]


class SchemaUnavailable(RuntimeError):
    """The schemas needed for validation cannot be found on disk; `crd` names the pinned CRD
    file that is missing, when it is one (crds.PinnedCrd.file)."""

    def __init__(self, message: str, crd: str | None = None):
        super().__init__(message)
        self.crd = crd


def suggestion(key: str, schema: Mapping) -> str:
    """A hint for an unknown field: a close spelling, or the sibling object it belongs under."""
    props = schema.get("properties") or {}
    close = difflib.get_close_matches(key, list(props), n=1, cutoff=0.8)
    if close:
        return f' (did you mean "{close[0]}"?)'
    for name, sub in props.items():
        if isinstance(sub, dict) and isinstance(sub.get("items"), dict):
            sub = sub["items"]
        if isinstance(sub, dict) and key in (sub.get("properties") or {}):
            return f' (it belongs under "{name}")'
    return ""


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_errors(validator: Any, instance: Any) -> list[Err]:
    """jsonschema's errors, one per unknown field or missing required field."""
    out: list[Err] = []
    for err in validator.iter_errors(instance):
        path = list(err.absolute_path)
        if (
            err.validator == "additionalProperties"
            and err.validator_value is False
            and isinstance(err.instance, dict)
        ):
            props = err.schema.get("properties") or {}
            patterns = err.schema.get("patternProperties") or {}
            for key in err.instance:
                if key in props or any(re.search(p, key) for p in patterns):
                    continue
                out.append((path + [key], f'unknown field "{key}"' + suggestion(key, err.schema)))
        elif err.validator == "required" and isinstance(err.instance, dict):
            for key in err.validator_value:
                if key not in err.instance:
                    out.append((path + [key], "required field is missing"))
        else:
            out.append((path, short(err.message)))
    return out
