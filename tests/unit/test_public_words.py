"""What users read (README, docs/, /openapi.json) speaks in their words, not the project's own.

The APIs are named by what they do (durable workflows, workflow runs, resume URLs, event
triggers); the project's internal documents ("seed 001") and jargon ("the client wire")
never show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway import openapi
from gateway.app import create_app
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = re.compile(r"\bseeds?\b|\bwires?\b|\bissue \d+|SPEC\.md", re.IGNORECASE)


def _found(text: str) -> list[str]:
    return [text[max(0, m.start() - 40):m.end() + 40] for m in INTERNAL.finditer(text)]


def test_the_readme_and_the_docs_name_no_internal_document() -> None:
    found = {str(path.relative_to(ROOT)): _found(path.read_text())
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]}
    assert {path: hits for path, hits in found.items() if hits} == {}


def test_the_openapi_document_names_no_internal_document() -> None:
    app = create_app(GatewaySettings.model_validate({"jwt_secret": "s" * 40}))
    text = json.dumps(openapi.build(app.routes, title="Signalway", version="test"), ensure_ascii=False)
    # Schema names (`…AnyWire`) are identifiers, not prose; every description and summary is checked.
    prose = " ".join(re.findall(r'"(?:description|summary|title)": "((?:[^"\\]|\\.)*)"', text))
    assert prose and _found(prose) == []
