"""What every command shares: global options, the lazily opened catalog, errors and output."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import click
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text
from typer.core import TyperGroup

from arco.catalog import Catalog, ColumnSpec, Page, WriterOptions
from arco.catalog.api import CatalogApi
from arco.client.remote import StoreOnlyError
from arco.core.paging import MAX_PAGE
from arco.core.scope import Scope
from arco.errors import ArcoError
from arco.executions import Executions
from arco.executions.api import ExecutionsApi
from arco.tier2.compactor import CompactorOptions
from arco.tier2.ingestor import UnknownEvents

if TYPE_CHECKING:
    from arco.client import Client

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]
IfMatch = Annotated[
    int | None,
    typer.Option("--if-match", metavar="VERSION", help="Fail unless the current version is this."),
]
#: ``--if-match`` of a create: compared with the catalog's snapshot version
CatalogIfMatch = Annotated[
    int | None,
    typer.Option(
        "--if-match", metavar="VERSION", help="Fail unless the catalog is at this version."
    ),
]
Properties = Annotated[
    list[str] | None,
    typer.Option("--property", "-p", metavar="KEY=VALUE", help="Repeatable."),
]
IdempotencyKey = Annotated[
    str | None,
    typer.Option("--idempotency-key", metavar="KEY", help="Replaying the same key is a no-op."),
]

_NULLABILITY = {":nullable": True, ":null": True, ":not-null": False, ":required": False}


try:  # Typer >= 0.2x vendors Click as typer._click
    from typer._click import globals as _typer_click  # type: ignore[attr-defined,unused-ignore]

    _CLICKS: tuple[Any, ...] = (_typer_click, click)
except ImportError:  # pragma: no cover - Typer on the Click package
    _CLICKS = (click,)

#: top-level commands that need the store itself; with ``--url`` they fail at once
STORE_ONLY_COMMANDS = frozenset({"gc", "verify", "compact", "bench"})


def _command_name() -> str:
    """The running command without the program name (``events list``)."""
    path = ""
    for module in _CLICKS:  # Typer may run on its own copy of Click
        found = module.get_current_context(silent=True)
        if found is not None:
            path = found.command_path
            break
    return path.partition(" ")[2] or path or "this command"


def store_only_error(what: str | None = None) -> StoreOnlyError:
    """The one error of a store-only command run with ``--url``."""
    return StoreOnlyError(f"{what or _command_name()} works on a store, not with --url")


class CliContext:
    """The global options of one invocation; opens the catalog on first use.

    With ``url`` (``--url``), :attr:`catalog` and :meth:`executions` are the server's
    (:mod:`arco.client`), ``--tenant`` / ``--workspace`` go as development-mode scope
    headers and ``token`` as the bearer token; :attr:`store_url` then raises.
    """

    def __init__(
        self,
        store_url: str,
        tenant: str,
        workspace: str,
        *,
        url: str | None = None,
        token: str | None = None,
    ) -> None:
        self._store_url = store_url
        self.tenant = tenant
        self.workspace = workspace
        self.url = url or None
        self._token = token
        self.console = Console(highlight=False)
        self.err_console = Console(stderr=True, highlight=False)
        self._catalog: Catalog | None = None
        self._executions: ExecutionsApi | None = None
        self._client: Client | None = None

    @property
    def store_url(self) -> str:
        """``--store``; a command that needs it fails with ``--url``."""
        if self.url is not None:
            raise store_only_error()
        return self._store_url

    @property
    def remote(self) -> bool:
        return self.url is not None

    @property
    def client(self) -> Client:
        """The client of ``--url``, opened once."""
        if self.url is None:
            raise RuntimeError("arco: no --url given")
        if self._client is None:
            from arco.client import Client

            self._client = Client(
                self.url, token=self._token, tenant=self.tenant, workspace=self.workspace
            )
        return self._client

    @property
    def catalog(self) -> CatalogApi:
        """The catalog of ``--store`` (or ``--url``) / ``--tenant`` / ``--workspace``, opened
        once."""
        return self.client.catalog if self.url is not None else self.local_catalog

    @property
    def local_catalog(self) -> Catalog:
        """The catalog of ``--store`` itself (for what needs more than :class:`CatalogApi`),
        opened once; fails with ``--url``."""
        if self.url is not None:
            raise store_only_error()
        if self._catalog is None:
            scope = Scope(self.tenant, self.workspace)
            # Inline checkpoints: a CLI process must not exit with one half-written.
            options = WriterOptions(background_checkpoints=False)
            self._catalog = Catalog.open(self._store_url, scope, options=options)
        return self._catalog

    def executions(self, unknown: UnknownEvents = "reject") -> ExecutionsApi:
        """The executions of the workspace, opened once; appends are folded inline (by the
        server with ``--url``, which rejects events it cannot apply)."""
        if self._executions is None:
            if self.url is not None:
                if unknown != "reject":
                    raise store_only_error(f"{_command_name()} --unknown {unknown}")
                self._executions = self.client.executions
                return self._executions
            scope = Scope(self.tenant, self.workspace)
            options = CompactorOptions(background_checkpoints=False)
            self._executions = Executions.open(
                self._store_url, scope, fold="inline", unknown=unknown, options=options
            )
        return self._executions

    def say(self, message: str) -> None:
        """Print a plain line on stdout (never interpreted as markup)."""
        self.console.print(Text(message), soft_wrap=True)

    def show(self, *renderables: Any) -> None:
        """Print Rich renderables on stdout."""
        self.console.print(*renderables)

    def close(self) -> None:
        """Close what was opened (waits for checkpoints)."""
        catalog, self._catalog = self._catalog, None
        executions, self._executions = self._executions, None
        client, self._client = self._client, None
        try:
            if catalog is not None:
                catalog.close()
            if executions is not None:
                executions.close()
        finally:
            if client is not None:
                client.close()


def current(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` the root callback attached to ``ctx``."""
    obj = ctx.find_object(CliContext)
    if obj is None:  # pragma: no cover - the root callback always sets it
        raise RuntimeError("arco: command invoked without the root callback")
    return obj


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no message)"


def fail(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with status 1."""
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(1)


class ArcoGroup(TyperGroup):
    """Root command group: turns errors into one stderr line and exit status 1.

    Usage errors stay Typer's (exit status 2). ``ARCO_DEBUG=1`` re-raises unexpected
    exceptions with their traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                obj = ctx.obj
                if isinstance(obj, CliContext):
                    obj.close()
        except (typer.TyperException, typer.Exit, typer.Abort, BrokenPipeError):
            # usage errors (exit 2), explicit exits, and a closed pipe are Typer's business
            raise
        except ArcoError as exc:
            fail(exc.message)
        except Exception as exc:
            if os.environ.get("ARCO_DEBUG", "") not in ("", "0"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc}")


# --- option parsing ---------------------------------------------------------------------


def parse_column_spec(text: str, option: str = "--column") -> ColumnSpec:
    """Parse ``name:type[:nullable|:not-null|:required|:null]``.

    The name ends at the first ``:``; a nullability flag is only recognised as the suffix,
    so the type may itself contain ``:`` and ``,`` (``ts:timestamp[us, tz=UTC]:not-null``).
    """
    name, sep, rest = text.partition(":")
    nullable = True
    lowered = rest.lower()
    for suffix, flag in _NULLABILITY.items():
        if lowered.endswith(suffix):
            rest, nullable = rest[: -len(suffix)], flag
            break
    rest = rest.strip()
    # 'id:not-null' is a flag without a type ('n:null' is the Arrow type null)
    if not sep or not rest or rest.lower() in ("nullable", "not-null", "required"):
        raise typer.BadParameter(
            f"expected NAME:TYPE[:nullable|:not-null], the type is missing (got {text!r})",
            param_hint=f"'{option}'",
        )
    if not name:
        raise typer.BadParameter(
            f"expected NAME:TYPE[:nullable|:not-null], the name is missing (got {text!r})",
            param_hint=f"'{option}'",
        )
    return ColumnSpec(name=name, type=rest, nullable=nullable)


def parse_pairs(values: Iterable[str] | None, option: str) -> dict[str, str]:
    """Parse repeated ``key=value`` options (split at the first ``=``; keys unique)."""
    out: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE (got {item!r})", param_hint=f"'{option}'")
        if key in out:
            raise typer.BadParameter(f"key {key!r} is given twice", param_hint=f"'{option}'")
        out[key] = value
    return out


def all_pages(fetch: Callable[[str | None], Page[T]]) -> list[T]:
    """Follow ``next_page_token`` until the last page."""
    items: list[T] = []
    token: str | None = None
    while True:
        page = fetch(token)
        items.extend(page.items)
        token = page.next_page_token
        if not token:
            return items


LimitOpt = Annotated[int, typer.Option(min=1, max=MAX_PAGE, help="Page size.")]
PageTokenOpt = Annotated[
    str | None,
    typer.Option(
        help="Print only the page after this token ('' for the first page); "
        "without it, every page is listed."
    ),
]


def print_listing(
    cli: CliContext,
    fetch: Callable[[str | None], Page[T]],
    page_token: str | None,
    as_json: bool,
    columns: list[str],
    row: Callable[[T], tuple[Any, ...]],
) -> None:
    """A list command's output: every page, or only the one after ``page_token``."""
    next_token: str | None = None
    if page_token is None:
        items = all_pages(fetch)
    else:
        page = fetch(page_token or None)
        items, next_token = page.items, page.next_page_token
    if as_json:
        if page_token is None:
            print_json(items)
        else:
            print_json({"items": items, "next_page_token": next_token})
        return
    cli.show(table(None, columns, [row(item) for item in items]))
    if next_token:
        cli.say(f"next page token: {next_token}")


# --- output -----------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Turn query/bench values (datetimes, decimals, bytes, ...) into JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (models are dumped with ``mode="json"``)."""
    typer.echo(json.dumps(jsonable(data), indent=2, sort_keys=False))


def text(value: object) -> Text:
    """A cell/line that is never interpreted as Rich markup."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, datetime):
        return Text(value.isoformat(timespec="seconds"))
    if isinstance(value, dict):
        return Text(", ".join(f"{k}={v}" for k, v in value.items()) or "-")
    return Text(str(value))


def table(title: str | None, columns: list[str], rows: Iterable[Iterable[object]]) -> RichTable:
    """A Rich table with plain-text cells."""
    out = RichTable(title=title, title_justify="left", show_lines=False)
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in rows:
        out.add_row(*(text(v) for v in row))
    return out


def fields(title: str | None, pairs: Iterable[tuple[str, object]]) -> RichTable:
    """A two-column key/value table."""
    out = RichTable(title=title, title_justify="left", show_header=False, box=None)
    out.add_column("field", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in pairs:
        out.add_row(key, text(value))
    return out
