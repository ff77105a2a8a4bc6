"""Names of the custom search attributes Signalway records on the runs it starts, and
`search_attributes(...)`: what a run started with another Temporal client needs to be served.

This module is their source for `signalway dev` (an installed one too, which has no
`temporal-config/`); `temporal-config/search-attributes.txt` registers them with a
deployed Temporal (docker-compose), and a unit test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

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


def search_attributes(*, project: str, user: str | None = None,
                      visibility: Literal["project", "private"] = "project",
                      api: Literal["durable", "runs"] = "durable",
                      interaction: str | None = None) -> TypedSearchAttributes:
    """The search attributes of a run started with your own Temporal client, so that Signalway
    serves it (both surfaces), files its event triggers under `project`, and lists it:

        await client.start_workflow(MyWorkflow.run, arg, id=..., task_queue="orders",
                                    search_attributes=search_attributes(project="alpha", user="alice"))

    `user` is who started it (the `sub` of a token of theirs; a `private` run is served to them
    alone), `api` which surface lists it first (`durable`: /api/v1/durable/..., `runs`:
    /api/v1/workflows/...; both serve it), `interaction` a conversation's name, if it is one.
    """
    if not project:
        raise ValueError("project must not be empty")
    pairs = [SearchAttributePair(PROJECT, project), SearchAttributePair(API, api),
             SearchAttributePair(VISIBILITY, visibility)]
    if user:
        pairs.append(SearchAttributePair(INITIATED_BY, f"user:{user}"))
    if interaction:
        pairs.append(SearchAttributePair(INTERACTION, interaction))
    return TypedSearchAttributes(pairs)


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
