"""Names of the custom search attributes Signalway records on the runs it starts.

This module is their source for `signalway dev` (an installed one too, which has no
`temporal-config/`); `temporal-config/search-attributes.txt` registers them with a
deployed Temporal (docker-compose), and a unit test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.common import SearchAttributeKey

PROJECT = SearchAttributeKey.for_keyword("SignalwayProject")
API = SearchAttributeKey.for_keyword("SignalwayApi")
DOCUMENT_ID = SearchAttributeKey.for_keyword("SignalwayDocumentId")
EVENT_NAME = SearchAttributeKey.for_keyword("SignalwayEventName")
RULE_ID = SearchAttributeKey.for_keyword("SignalwayRuleId")
RULE_NAME = SearchAttributeKey.for_keyword("SignalwayRuleName")
INITIATED_BY = SearchAttributeKey.for_keyword("SignalwayInitiatedBy")
VISIBILITY = SearchAttributeKey.for_keyword("SignalwayVisibility")
INTERACTION = SearchAttributeKey.for_keyword("SignalwayInteraction")

ALL = (PROJECT, API, DOCUMENT_ID, EVENT_NAME, RULE_ID, RULE_NAME, INITIATED_BY, VISIBILITY, INTERACTION)


def registrations() -> dict[str, str]:
    """`NAME: TYPE` of every attribute, as `temporal operator search-attribute create` takes them."""
    return {key.name: "Keyword" for key in ALL}


def config_file() -> Path:
    """`temporal-config/search-attributes.txt` at the project root."""
    return Path(__file__).resolve().parent.parent / "temporal-config" / "search-attributes.txt"


def read_config(path: Path | None = None) -> dict[str, str]:
    """Parse `NAME=TYPE` lines (comments and blanks skipped)."""
    entries: dict[str, str] = {}
    for raw in (path or config_file()).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, kind = line.partition("=")
            entries[name.strip()] = kind.strip()
    return entries
