"""What the mock engine records: one ``Captured`` per registration, gathered in an ``OfflinePlan``.

This is what ``trainstack plan`` writes and what the tests assert on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .secrets import SECRET_MASK, unwrap_secrets

__all__ = ["Captured", "OfflinePlan"]


@dataclass
class Captured:
    """One registration seen by the mock engine."""

    type: str
    name: str
    urn: str
    parent: str | None  # parent URN (the stack's URN for top-level resources)
    provider: str | None  # provider URN, without the ``::<id>`` suffix
    custom: bool
    inputs: dict  # engine (camelCase) names, secrets still wrapped
    remote: bool = False  # a multi-language component implemented by a plugin
    read_id: str | None = None  # set for resources read with ``.get()``, not created
    dependencies: list[str] = field(default_factory=list)  # explicit + implicit dependency URNs
    # What the mock answered: the fake ID (custom resources only) and output state (inputs echoed
    # plus faked extras such as `arn`; faked outputs for remote components). Not engine inputs.
    id: str | None = None
    state: dict = field(default_factory=dict)
    # Resource options the engine acts on at update time (replaceOnChanges, deleteBeforeReplace,
    # ignoreChanges, protect): how a config edit will be applied, not what is declared.
    options: dict = field(default_factory=dict)

    @property
    def component(self) -> bool:
        return not self.custom

    @property
    def plain_inputs(self) -> dict:
        """Inputs with secrets unwrapped (what a policy should see)."""
        return unwrap_secrets(self.inputs)


@dataclass
class OfflinePlan:
    resources: list[Captured]
    outputs: dict
    secret_outputs: set[str] = field(default_factory=set)
    stack_urn: str = ""
    # What the plugins of remote components would create inside them, as the fakes answer it
    # (fakes/eks.py: a ManagedNodeGroup's node group, its inputs after the component's
    # transforms). Not in `resources`: the program does not register them, so no rule reads them.
    plugin_resources: list[Captured] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Captured]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Captured:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) == 1:
            return found[0]
        want = f"{type_}" + (f" named {name!r}" if name is not None else "")
        same_type = sorted(r.name for r in self.of_type(type_))
        if same_type:
            detail = f"resources of that type: {same_type}"
        else:
            types = sorted({r.type for r in self.resources})
            detail = f"no resource of that type; types present: {types}"
        raise LookupError(f"expected exactly one {want}, found {len(found)}; {detail}")

    def by_urn(self, urn: str) -> Captured:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise LookupError(f"no resource with URN {urn}")

    def children_of(self, urn: str) -> list[Captured]:
        return [r for r in self.resources if r.parent == urn]

    def descendants_of(self, urn: str) -> list[Captured]:
        out: list[Captured] = []
        todo = [urn]
        while todo:
            kids = self.children_of(todo.pop())
            out.extend(kids)
            todo.extend(k.urn for k in kids)
        return out

    @property
    def masked_outputs(self) -> dict:
        return {
            k: (SECRET_MASK if k in self.secret_outputs else v) for k, v in self.outputs.items()
        }
