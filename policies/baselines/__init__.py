"""The external baselines the pack is measured against: one `Control` per published control
that concerns what the stack creates. A control is enforced by every rule whose `controls`
names its ID (policies/coverage.py joins the two for docs/security.md); one that needs no rule
says why in `reason`. The lists themselves live in fsbp.py and cis_eks.py beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass

LOW = "LOW"


@dataclass(frozen=True)
class Control:
    id: str  # as rules cite it: "FSBP S3.8", "CIS EKS 4.2.1"
    title: str  # the publisher's title
    severity: str  # FSBP: CRITICAL/HIGH/MEDIUM/LOW; CIS: its Level 1/Level 2 profile
    resource: str  # what it concerns in the stack ("AWS::S3::Bucket", "pods")
    # Why no rule enforces it: it does not apply to what the stack creates, or the stack meets it
    # by construction in a way no input shows. Empty: a mandatory rule must name it (an
    # advisory one is enough where the publisher rates the control LOW).
    reason: str = ""


@dataclass(frozen=True)
class Baseline:
    name: str
    version: str
    source: str  # the page the IDs and titles are taken from
    controls: tuple[Control, ...]
