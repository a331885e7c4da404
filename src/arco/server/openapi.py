"""Print the API's OpenAPI document: ``python -m arco.server.openapi > openapi.json``.

The output is deterministic (sorted keys, indent 2, trailing newline), so the committed
``openapi.json`` at the repository root can be compared with the served document.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from arco.server.app import create_app
from arco.server.settings import ServerSettings


def document() -> dict[str, Any]:
    """The OpenAPI document of the app (independent of the store and the auth mode)."""
    settings = ServerSettings(store_url="memory://openapi", dev=True, compactor=False)
    return create_app(settings).openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    sys.stdout.write(render(document()))


if __name__ == "__main__":
    main()
