"""Python client of an Arco server: ``arco.client.Client`` (httpx).

>>> with Client("http://127.0.0.1:8181", tenant="acme") as client:  # doctest: +SKIP
...     client.catalog.create_namespace("sales")
...     table = client.query("SELECT * FROM catalog.namespaces")
"""

from arco.client.core import (
    Client,
    CommitInfo,
    DeployResult,
    QueryColumn,
    QueryResult,
    RunDetail,
    RunLogs,
    SignedFile,
    SignedUrls,
    error_from_response,
    was_truncated,
)
from arco.client.errors import (
    BadRequestError,
    ConnectionFailedError,
    ForbiddenError,
    PayloadTooLargeError,
    QueryTimeoutError,
    RateLimitedError,
    RemoteError,
    RequestTimeoutError,
    ServerError,
    UnauthenticatedError,
    error_class,
)
from arco.client.remote import RemoteCatalog, RemoteExecutions, StoreOnlyError

__all__ = [
    "BadRequestError",
    "Client",
    "CommitInfo",
    "ConnectionFailedError",
    "DeployResult",
    "ForbiddenError",
    "PayloadTooLargeError",
    "QueryColumn",
    "QueryResult",
    "QueryTimeoutError",
    "RateLimitedError",
    "RemoteCatalog",
    "RemoteError",
    "RemoteExecutions",
    "RequestTimeoutError",
    "RunDetail",
    "RunLogs",
    "ServerError",
    "SignedFile",
    "SignedUrls",
    "StoreOnlyError",
    "UnauthenticatedError",
    "error_class",
    "error_from_response",
    "was_truncated",
]
