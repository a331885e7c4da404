"""The HTTP service: REST API, auth, SQL endpoint, signed file URLs and the explorer.

``create_app(settings)`` builds the FastAPI application; ``arco serve`` runs it with uvicorn.
The web layer holds no storage logic: routes call the catalog, executions and query
services of the caller's workspace (:mod:`arco.server.workspaces`).
"""

from arco.server.app import create_app
from arco.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
