"""What users read (README, docs/, /openapi.json) speaks in their words, not the project's own.

The APIs are named by what they do (durable workflows, workflow runs, resume URLs, event
triggers); the project's internal documents ("seed 001") and jargon ("the client wire")
never show.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from signalway.gateway import openapi
from signalway.gateway.app import create_app
from signalway.gateway.settings import GatewaySettings

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


def _curl_commands() -> list[tuple[str, str]]:
    """(method, URL) of every curl command in docs/api's shell examples, continuations joined."""
    found = []
    for path in sorted((ROOT / "docs" / "api").glob("*.md")):
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.S):
            for command in re.split(r"(?<!\\)\n", block):
                for curl in re.findall(r"curl\b[^|;)]*", command.replace("\\\n", " ")):
                    method = re.search(r"-X (\w+)", curl)
                    url = re.search(r'"(\$SIGNALWAY_URL[^"]*|\$(?:R|A|URL)\b[^"]*)"|(\$URL)\b', curl)
                    if url:
                        found.append((method.group(1) if method else "GET", url.group(1) or url.group(2)))
    return found


def test_every_operation_has_a_curl_example_in_the_api_docs() -> None:
    app = create_app(GatewaySettings.model_validate({"jwt_secret": "s" * 40}))
    document = openapi.build(app.routes, title="Signalway", version="test")
    # Shell variables the examples set to a run's URL (R, A) or a resume URL (URL).
    aliases = {"$R": "/api/v1/workflows/runs/{workflow_id}/{run_id}",
               "$A": "/api/v1/workflows/runs/{workflow_id}/{run_id}",
               "$URL": "/public/send-user-signal/{signal_id}"}
    examples = []
    for method, url in _curl_commands():
        for alias, path in aliases.items():
            if url == alias or url.startswith((alias + "/", alias + "?")):
                url = path + url[len(alias):]
        examples.append((method, url.removeprefix("$SIGNALWAY_URL").split("?")[0]))
    missing = []
    for path, operations in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(path)) + "$")
        for method in operations:
            if method in ("get", "post", "put", "delete", "patch") and not any(
                    m == method.upper() and (pattern.match(u) or u == path) for m, u in examples):
                missing.append(f"{method.upper()} {path}")
    assert missing == []
