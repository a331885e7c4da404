"""Schemathesis over the Iceberg REST routes (driven as in test_schemathesis.py): a bounded
positive run (generated valid inputs: never a 5xx, a documented status, the documented
content type) and a negative run (schema-violating inputs: a documented 4xx, never a 5xx),
on a live development-mode server whose workspace ``acme.main`` holds a namespace, a table
and a view, so that generated names sometimes hit real objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    status_code_conformance,
)

from serve_support import ServerProcess, serve_process

EXAMPLES = 20
PREFIX = "acme.main"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("iceberg-schemathesis")
    with serve_process(f"file://{root / 'store'}", root / "server.log", "--no-compactor") as srv:
        base = f"{srv.url}/iceberg/v1/{PREFIX}"
        httpx.post(f"{base}/namespaces", json={"namespace": ["a"]}).raise_for_status()
        schema = {
            "type": "struct",
            "schema-id": 0,
            "fields": [{"id": 1, "name": "id", "type": "long", "required": True}],
        }
        httpx.post(
            f"{base}/namespaces/a/tables", json={"name": "a", "schema": schema}
        ).raise_for_status()
        yield srv


def _schema(url: str) -> schemathesis.BaseSchema:
    config = {"generation": {"with-security-parameters": False, "codec": "ascii"}}
    return schemathesis.openapi.from_url(
        f"{url}/openapi.json", config=SchemathesisConfig.from_dict(config)
    )


def _operations(schema: schemathesis.BaseSchema) -> list[Any]:
    out = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        if operation.path.startswith("/iceberg/"):
            out.append(operation)
    assert len(out) == 25  # 23 prefixed endpoints, config, oauth tokens
    return out


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _run(url: str, mode: GenerationMode, checks: list[Any]) -> tuple[list[str], set[str]]:
    failures: list[str] = []
    unsatisfiable: set[str] = set()
    for operation in _operations(_schema(url)):

        @given(case=operation.as_strategy(generation_mode=mode))
        @_settings()
        def run(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE and "prefix" in (case.path_parameters or {}):
                # valid cases in the seeded workspace (a random scope is just empty)
                case.path_parameters = {**(case.path_parameters or {}), "prefix": PREFIX}
            case.call_and_validate(base_url=url, checks=checks)

        try:
            run()
        except Unsatisfiable:
            unsatisfiable.add(operation.label)
        except Exception as exc:  # every operation's failure, reported together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures, unsatisfiable


def test_iceberg_routes_positive(server: ServerProcess) -> None:
    failures, _ = _run(
        server.url,
        GenerationMode.POSITIVE,
        [not_a_server_error, status_code_conformance, content_type_conformance],
    )
    assert not failures, "\n".join(failures)


def test_iceberg_routes_negative(server: ServerProcess) -> None:
    failures, _ = _run(
        server.url,
        GenerationMode.NEGATIVE,
        [not_a_server_error, negative_data_rejection, content_type_conformance],
    )
    assert not failures, "\n".join(failures)
