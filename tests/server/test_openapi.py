"""The OpenAPI contract: the served document equals the committed ``openapi.json``, it is
complete for the conventions, and docs/api.md lists every error code with its status."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from arco.server.errors import ERROR_CODES
from arco.server.openapi import document, render

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/python -m arco.server.openapi > openapi.json"


def test_served_document_equals_committed_openapi_json(dev_client: TestClient) -> None:
    served = dev_client.get("/openapi.json")
    assert served.status_code == 200
    committed = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    assert served.json() == committed, (
        f"openapi.json is out of date: regenerate it with `{REGENERATE}` and commit it"
    )


def test_committed_file_is_the_generator_output() -> None:
    text = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert text == render(document()), f"regenerate with `{REGENERATE}`"


def test_generator_script_is_deterministic() -> None:
    run = [sys.executable, "-m", "arco.server.openapi"]
    first = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    second = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    assert first == second
    assert json.loads(first) == document()


def _api_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]


# the routes of this module's owner (catalog, lineage, search, manifests, commits, events)
_OURS = re.compile(
    r"^/api/v1/(namespaces|lineage|search|manifests|commits|events|materializations)"
)


def test_documented_conventions() -> None:
    doc = document()
    ops = [(m, p, op) for m, p, op in _api_operations(doc) if _OURS.match(p)]
    assert len(ops) == 19
    for method, path, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("tags"), where
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert {"X-Request-Id", "X-Tenant-Id", "X-Workspace-Id"} <= headers, where
        if method in ("post", "patch", "delete"):
            assert "Idempotency-Key" in headers, where
        if method in ("patch", "delete") and path.startswith("/api/v1/namespaces"):
            assert "If-Match" in headers and "412" in op["responses"], where
        responses = op["responses"]
        assert "422" not in responses, where  # validation failures are 400
        for status in ("401", "429", "500", "503"):
            assert status in responses, where
        for status, response in responses.items():
            if status[0] in "45" or status == "default":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, where
            assert "X-Request-Id" in response.get("headers", {}), (where, status)
        if "{" in path and method != "post" and "lineage" not in path:
            assert "404" in responses or path.startswith(("/api/v1/commits",)), where
    namespace = doc["paths"]["/api/v1/namespaces/{ns}"]["get"]["responses"]["200"]
    assert "ETag" in namespace["headers"]
    created = doc["paths"]["/api/v1/namespaces"]["post"]["responses"]["201"]
    assert {"ETag", "Location"} <= set(created["headers"])


def test_docs_list_every_error_code_with_its_status() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", text, re.MULTILINE))
    missing = {code: status for code, status in ERROR_CODES.items() if code not in rows}
    assert missing == {}, "docs/api.md: add these codes to the error table"
    wrong = {
        code: (rows[code], status)
        for code, status in ERROR_CODES.items()
        if rows[code] != str(status)
    }
    assert wrong == {}
    assert set(rows) == set(ERROR_CODES), "docs/api.md lists codes the API does not have"


def test_parameters_are_never_null() -> None:
    """Headers, query and path parameters are absent or text: an optional one must not
    admit JSON null (FastAPI's ``anyOf [..., null]``), or clients send the text ``null``
    (a page_token ``null``, an If-Match ``null``: 400s for requests the document allows)."""
    nullable = [
        (method, path, parameter["name"])
        for method, path, op in _api_operations(document())
        for parameter in op.get("parameters", [])
        if "null" in json.dumps(parameter["schema"])
    ]
    assert nullable == []
