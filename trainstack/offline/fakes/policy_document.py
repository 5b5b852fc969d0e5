"""``aws:iam/getPolicyDocument:getPolicyDocument`` answered with a real IAM JSON document.

The SDK's default answer (``{}``) would turn every policy into ``None``; the policy rules and the
AWS input rules need the document the provider would render.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..secrets import unwrap_secrets
from .values import as_list, one_or_list


def _principal_block(blocks: Any) -> Any:
    merged: dict[str, list] = {}
    for block in as_list(blocks):
        typ = block.get("type")
        ids = as_list(block.get("identifiers"))
        if typ == "*" and ids == ["*"]:
            return "*"
        bucket = merged.setdefault(typ, [])
        bucket.extend(i for i in ids if i not in bucket)
    return {k: one_or_list(v) for k, v in merged.items()}


def _condition_block(conds: Any) -> dict:
    out: dict[str, dict] = {}
    for c in as_list(conds):
        test, variable = c.get("test"), c.get("variable")
        values = [str(v) if isinstance(v, bool) else v for v in as_list(c.get("values"))]
        existing = out.setdefault(test, {}).get(variable)
        if existing is not None:
            values = as_list(existing) + [v for v in values if v not in as_list(existing)]
        out[test][variable] = one_or_list(values)
    return out


def _statement(stmt: dict) -> dict:
    out: dict[str, Any] = {}
    if stmt.get("sid"):
        out["Sid"] = stmt["sid"]
    out["Effect"] = stmt.get("effect") or "Allow"
    for arg, key in (
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ):
        values = as_list(stmt.get(arg))
        if values:
            deduped = list(dict.fromkeys(values))
            out[key] = one_or_list(deduped)
    if stmt.get("principals"):
        out["Principal"] = _principal_block(stmt["principals"])
    if stmt.get("notPrincipals"):
        out["NotPrincipal"] = _principal_block(stmt["notPrincipals"])
    if stmt.get("conditions"):
        out["Condition"] = _condition_block(stmt["conditions"])
    return out


def _merge_by_sid(base: list[dict], extra: list[dict]) -> list[dict]:
    out = list(base)
    for st in extra:
        sid = st.get("Sid")
        idx = next((i for i, s in enumerate(out) if sid and s.get("Sid") == sid), None)
        if idx is None:
            out.append(st)
        else:
            out[idx] = st
    return out


def _statements_of(doc_json: str) -> list[dict]:
    doc = json.loads(doc_json)
    stmts = doc.get("Statement", [])
    return stmts if isinstance(stmts, list) else [stmts]


def build_policy_document(args: dict) -> dict:
    """Answer ``aws:iam/getPolicyDocument:getPolicyDocument`` with a real IAM JSON document."""
    args = unwrap_secrets(args)
    statements: list[dict] = []
    for src in as_list(args.get("sourcePolicyDocuments")):
        statements = _merge_by_sid(statements, _statements_of(src))
    statements = _merge_by_sid(statements, [_statement(s) for s in as_list(args.get("statements"))])
    for override in as_list(args.get("overridePolicyDocuments")):
        statements = _merge_by_sid(statements, _statements_of(override))
    doc: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        doc["Id"] = args["policyId"]
    doc["Statement"] = statements
    text = json.dumps(doc, indent=2)
    minified = json.dumps(doc, separators=(",", ":"))
    result = {
        "json": text,
        "minifiedJson": minified,
        "id": str(int(hashlib.sha256(minified.encode()).hexdigest()[:8], 16)),
        "version": doc["Version"],
    }
    if args.get("statements") is not None:
        result["statements"] = args["statements"]
    for k in ("policyId", "sourcePolicyDocuments", "overridePolicyDocuments"):
        if args.get(k) is not None:
            result[k] = args[k]
    return result
