"""Who is calling: the authenticated principal and the scope it may act in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arco.core.scope import Scope

#: ``user`` tokens call the API; ``task`` tokens are issued to workers and never accepted
#: where a user token is expected (and vice versa)
TokenKind = Literal["user", "task"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, bound to exactly one tenant and workspace."""

    tenant: str
    workspace: str
    subject: str
    kind: TokenKind = "user"

    @property
    def scope(self) -> Scope:
        return Scope(self.tenant, self.workspace)
