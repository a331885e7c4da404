"""DuckDB's iceberg extension as an independent Iceberg REST client (issue 11).

Runs with the python of ``.venv-duckdb-iceberg`` (``./dev test`` installs it from
``requirements/duckdb-iceberg.txt``: duckdb 1.5.5 and the iceberg, httpfs and avro extensions
as wheels, which exist only for duckdb 1.5.x), never inside the test process. The extensions
are loaded from those wheels (unsigned, offline): DuckDB never downloads anything here.

Input, one JSON object on stdin (or as the first argument)::

    {"endpoint": "http://127.0.0.1:PORT/iceberg",   # the catalog URI (DuckDB adds /v1/...)
     "warehouse": "acme/main",                       # GET /v1/config?warehouse=...
     "statements": ["SHOW ALL TABLES", "SELECT ..."],
     # optional: a bearer token, or OAuth2 client credentials; neither: no authorization
     "token": "...", "client_id": "...", "client_secret": "...", "oauth2_server_uri": "...",
     "attach_options": {"ACCESS_DELEGATION_MODE": "none"}}   # more ATTACH options

The catalog is attached as ``arco``. Output, one JSON object on stdout::

    {"duckdb": "1.5.5",
     "results": [{"sql": "...", "columns": ["a", ...], "rows": [[...], ...]}, ...]}

Values JSON cannot hold (dates, timestamps, decimals, UUIDs, bytes) are written as Python's
``str`` of the value DuckDB returns. A failing statement stops the run: the output then has
``"error": {"statement": INDEX, "sql": "...", "type": "...", "message": "..."}`` (INDEX null:
the ATTACH failed; the results before it are kept) and the exit status is 1.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

EXTENSIONS = ("httpfs", "avro", "iceberg")


def extension_file(name: str) -> Path:
    """``<package>/extensions/v<duckdb version>/<name>.duckdb_extension`` of the wheel
    ``duckdb-extension-<name>``."""
    package = importlib.import_module(f"duckdb_extension_{name}")
    assert package.__file__ is not None
    found = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    path = found / f"{name}.duckdb_extension"
    if not path.is_file():
        raise SystemExit(
            f"error: {path} is missing: duckdb-extension-{name} does not match duckdb "
            f"{duckdb.__version__} (see requirements/duckdb-iceberg.txt)"
        )
    return path


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the wheels' extensions loaded and no way to fetch others."""
    con = duckdb.connect(
        config={
            "allow_unsigned_extensions": "true",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
    )
    for name in EXTENSIONS:
        con.execute(f"LOAD {quote(str(extension_file(name)))}")
    return con


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def attach_sql(command: dict[str, Any]) -> list[str]:
    """The statements that attach the catalog as ``arco`` (with a secret if asked)."""
    options: dict[str, str] = {"TYPE": "iceberg", "ENDPOINT": quote(command["endpoint"])}
    out: list[str] = []
    if command.get("token") or command.get("client_id"):
        # the endpoint: where OAuth2 falls back to (ENDPOINT/v1/oauth/tokens) without a URI
        secret = {"TYPE": "iceberg", "ENDPOINT": quote(command["endpoint"])}
        for key in ("token", "client_id", "client_secret", "oauth2_server_uri"):
            if command.get(key):
                secret[key.upper()] = quote(command[key])
        body = ", ".join(f"{k} {v}" for k, v in secret.items())
        out.append(f"CREATE SECRET arco_secret ({body})")
        options["SECRET"] = "arco_secret"
    else:
        options["AUTHORIZATION_TYPE"] = quote("none")
    for key, value in (command.get("attach_options") or {}).items():
        options[key.upper()] = str(value).lower() if isinstance(value, bool) else quote(str(value))
    body = ", ".join(f"{k} {v}" for k, v in options.items())
    out.append(f"ATTACH {quote(command['warehouse'])} AS arco ({body})")
    return out


def run(command: dict[str, Any]) -> dict[str, Any]:
    con = connect()
    results: list[dict[str, Any]] = []
    out: dict[str, Any] = {"duckdb": duckdb.__version__, "results": results}
    setup = attach_sql(command)
    for index, sql in enumerate([*setup, *command.get("statements", [])]):
        try:
            relation = con.execute(sql)
            columns = [d[0] for d in relation.description or []]
            rows = relation.fetchall() if columns else []
        except duckdb.Error as exc:
            out["error"] = {
                "statement": index - len(setup) if index >= len(setup) else None,
                "sql": sql,
                "type": type(exc).__name__,
                "message": str(exc),
            }
            break
        if index >= len(setup):
            results.append({"sql": sql, "columns": columns, "rows": [list(r) for r in rows]})
    return out


def main(argv: list[str]) -> int:
    command = json.loads(argv[1] if len(argv) > 1 else sys.stdin.read())
    out = run(command)
    json.dump(out, sys.stdout, default=str)
    sys.stdout.write("\n")
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
