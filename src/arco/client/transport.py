"""``Transport``: what :mod:`arco.client.remote` needs of a client.

:class:`arco.client.Client` implements it. The remote catalog and executions are typed
against this protocol rather than the client class, so imports inside ``arco.client`` flow
one way: ``core`` -> ``remote`` -> ``transport`` (and ``core`` -> ``errors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx

    from arco.metadata.manifest import Manifest
    from arco.tier2.envelope import EventEnvelope

__all__ = ["Method", "Transport"]

Method = Literal["GET", "HEAD", "POST", "PATCH", "DELETE"]


class Transport(Protocol):
    """The REST calls of an Arco server that the remote catalog and executions make."""

    def request(
        self,
        method: Method,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        if_match: int | str | None = None,
    ) -> httpx.Response:
        """Send one request to ``/api/v1{path}``; the successful response."""
        ...

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def manifest(self, domain: str) -> Manifest: ...

    def append_events(
        self,
        events: Iterable[EventEnvelope | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> list[str]: ...
