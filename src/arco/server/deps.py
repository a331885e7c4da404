"""FastAPI dependencies shared by the routes: the caller, its workspace, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request

from arco.observability.request_context import current_request
from arco.server.principal import Principal
from arco.server.services import Services
from arco.server.workspaces import Workspace


def services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def principal(request: Request) -> Principal:
    """The authenticated caller (401 if none); set by the authentication dependency."""
    svc = services(request)
    found = svc.authenticator.authenticate(request)
    request.state.principal = found
    info = current_request()
    if info is not None:  # commit records name who made each change
        info.subject = found.subject
    svc.rate_limiter.charge(found.tenant, "request")
    return found


def workspace(
    request: Request, caller: Annotated[Principal, Depends(principal)]
) -> Iterator[Workspace]:
    """The caller's workspace (the only one its requests can ever reach), held open for
    the request."""
    with services(request).workspaces.use(caller.scope) as ws:
        yield ws


Caller = Annotated[Principal, Depends(principal)]
CallerWorkspace = Annotated[Workspace, Depends(workspace)]
