"""Authentication: who is calling, from a bearer token or (development mode) headers."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request

from arco.core.scope import Scope
from arco.errors import ValidationError
from arco.server.errors import ApiError
from arco.server.principal import Principal

__all__ = ["Authenticator", "DevAuthenticator", "unauthenticated"]

TENANT_HEADER = "X-Tenant-Id"
WORKSPACE_HEADER = "X-Workspace-Id"


class Authenticator(Protocol):
    def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``; ApiError 401 if it cannot be established."""
        ...


def unauthenticated(message: str = "a valid bearer token is required") -> ApiError:
    """The one 401 every authentication failure becomes (no detail on why)."""
    return ApiError(401, "UNAUTHENTICATED", message, {"WWW-Authenticate": "Bearer"})


class DevAuthenticator:
    """Development mode: the scope comes from ``X-Tenant-Id`` / ``X-Workspace-Id``
    (default ``default``/``default``); no token is checked."""

    def authenticate(self, request: Request) -> Principal:
        tenant = request.headers.get(TENANT_HEADER, "default")
        workspace = request.headers.get(WORKSPACE_HEADER, "default")
        try:
            scope = Scope(tenant, workspace)
        except ValidationError as exc:
            raise ApiError(
                400, "VALIDATION_FAILED", f"{TENANT_HEADER}/{WORKSPACE_HEADER}: {exc.message}"
            ) from None
        return Principal(scope.tenant, scope.workspace, "dev", "user")
