"""Print the API's OpenAPI schema as YAML: ``python -m casedesk.openapi > docs/backend-api.yaml``.

Only the ``/api/v1`` routes are in it (the staff pages are left out of the schema); a test
checks that the desk serves exactly the committed file.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from casedesk.app import create_app
from casedesk.settings import Environment, Settings

HEADER = (
    "# The case-system API (docs/backend-api.md). Generated from the reference case desk:\n"
    "#   python -m casedesk.openapi > docs/backend-api.yaml\n"
    "# Do not edit by hand; a test checks the desk serves exactly this.\n"
)


def schema() -> dict[str, Any]:
    app = create_app(Settings(env=Environment.DEVELOPMENT, api_token=None, session_secret=None))
    return app.openapi()


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    sys.stdout.write(render(schema()))


if __name__ == "__main__":  # pragma: no cover
    main()
