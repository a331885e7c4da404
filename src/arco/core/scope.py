"""The ``(tenant, workspace)`` scope every request resolves to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from arco.errors import ValidationError, preview

#: a tenant or workspace id (the OpenAPI document states it for the X-Tenant-Id and
#: X-Workspace-Id headers)
SCOPE_PART_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
_SCOPE_PART_RE = re.compile(SCOPE_PART_PATTERN)


def validate_scope_part(field: str, value: str) -> str:
    """Return ``value`` if it is 1-63 chars of ``[a-z0-9_-]`` starting with a letter or digit."""
    if not isinstance(value, str) or _SCOPE_PART_RE.fullmatch(value) is None:
        raise ValidationError(
            f"{field}: must be 1-63 characters of [a-z0-9_-] starting with a letter or digit "
            f"(got {preview(value)})"
        )
    return value


@dataclass(frozen=True)
class Scope:
    """A validated tenant and workspace."""

    tenant: str
    workspace: str

    def __post_init__(self) -> None:
        validate_scope_part("tenant", self.tenant)
        validate_scope_part("workspace", self.workspace)

    @property
    def prefix(self) -> str:
        """The storage key prefix of this scope, ending with ``/``."""
        return f"tenant={self.tenant}/workspace={self.workspace}/"


DEFAULT_SCOPE = Scope("default", "default")
