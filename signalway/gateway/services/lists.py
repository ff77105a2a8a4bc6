"""Listing runs from Temporal visibility, always inside the caller's scope (`access.scope`).

A caller's filters and `query` are ANDed with the scope clause, never ORed: no filter can
widen what the caller may see. Page tokens are bound to the query they were made for.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from signalway import search_attributes as sa
from signalway.gateway.adapters.temporal import Listed
from signalway.gateway.adapters.visibility import EXECUTION_STATUS, all_of, equals, literal
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import BadRequest
from signalway.gateway.list_query import parse as parse_query
from signalway.gateway.runs_schemas import ListRuns, RunList, RunSummary
from signalway.gateway.runs_wire import ClientListRuns, ClientRunList, ClientRunSummary, Wire
from signalway.gateway.schemas import DurableWorkflow, DurableWorkflowList
from signalway.gateway.services import access
from signalway.gateway.services.read import (
    DURABLE_STATUS,
    attribute,
    client_timing,
    durable_view,
    timing,
)

_TOKEN_DIGEST_BYTES = 12
_VIEW_CONCURRENCY = 8
# Beyond the durable surface's names, the spellings runs-surface clients send.
RUN_STATUS_FILTER: dict[str, str] = {**EXECUTION_STATUS, "timedout": "TimedOut", "continuedasnew": "ContinuedAsNew"}


async def durable(svc: Services, who: Principal, *, status: str | None, workflow_type: str | None,
                  limit: int, offset: int) -> DurableWorkflowList:
    """A page of the runs the caller may see, as the durable surface shows them (results included).

    Every run of the caller's scope, whichever surface started it: a run started through the
    runs API's `/execute` (or any client) is one `GET .../durable/workflows/{id}` finds, so
    the list shows it too.
    """
    clauses = [access.scope(who, unattributed_project=svc.settings.unattributed_runs_project)]
    if status:
        if status.lower() not in EXECUTION_STATUS:
            raise BadRequest(f"Unknown status {status!r}; use one of {', '.join(DURABLE_STATUS.values())}.")
        clauses.append(equals("ExecutionStatus", EXECUTION_STATUS[status.lower()]))
    if workflow_type:
        clauses.append(equals("WorkflowType", workflow_type))
    query = all_of(*clauses)
    wanted = offset + limit
    items: list[Listed] = []
    token: bytes | None = None
    while len(items) < wanted:
        page, token = await svc.temporal.list(query, page_size=min(wanted - len(items), 1000), next_page_token=token)
        items.extend(page)
        if token is None:
            break
    total = await svc.temporal.count(query)
    # Each item may need its input and outcome from its history: read concurrently, bounded
    # so that one page of 200 does not become 400 Temporal calls at once.
    limit_reads = asyncio.Semaphore(_VIEW_CONCURRENCY)

    async def view(item: Listed) -> DurableWorkflow:
        async with limit_reads:
            return await durable_view(svc, item)

    data = list(await asyncio.gather(*[view(item) for item in items[offset:wanted]]))
    return DurableWorkflowList(data=data, total=max(total, offset + len(data)))


def _iso_time(value: str, name: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time, got {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def filters(body: ListRuns) -> list[str]:
    clauses: list[str] = []
    for value, key in ((body.document_id, sa.DOCUMENT_ID), (body.event_name, sa.EVENT_NAME),
                       (body.rule_id, sa.RULE_ID), (body.initiated_by, sa.INITIATED_BY)):
        if value is not None:
            clauses.append(equals(key, value))
    if body.type is not None:
        clauses.append(equals("WorkflowType", body.type))
    if body.start is not None:
        clauses.append(f"StartTime >= {literal(_iso_time(body.start, 'start'))}")
    if body.end is not None:
        clauses.append(f"StartTime <= {literal(_iso_time(body.end, 'end'))}")
    if body.status is not None:
        status = RUN_STATUS_FILTER.get(body.status.strip().lower())
        if status is None:
            raise BadRequest(
                f"Unknown status {body.status!r}; use one of "
                "running, completed, failed, canceled, terminated, timed_out, continued_as_new."
            )
        clauses.append(equals("ExecutionStatus", status))
    if body.search_term is not None:
        term = body.search_term.strip()
        clauses.append(" OR ".join(
            (equals("WorkflowType", term), equals(sa.RULE_NAME, term), equals("RunId", term))
        ))
    if isinstance(body, ClientListRuns):
        if unsupported := body.unsupported():
            raise BadRequest(f"Signalway cannot filter runs by {', '.join(unsupported)}; leave it out.")
        if body.interaction is not None:
            clauses.append(equals(sa.INTERACTION, body.interaction))
    if body.query:
        clauses.append(parse_query(body.query))
    return clauses


def _encode_token(query: str, token: bytes) -> str:
    digest = hashlib.sha256(query.encode()).digest()[:_TOKEN_DIGEST_BYTES]
    return base64.urlsafe_b64encode(digest + token).decode()


def _decode_token(query: str, raw: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest("next_page_token is malformed; pass the token of the previous page unchanged.") from None
    digest, token = data[:_TOKEN_DIGEST_BYTES], data[_TOKEN_DIGEST_BYTES:]
    if not token or digest != hashlib.sha256(query.encode()).digest()[:_TOKEN_DIGEST_BYTES]:
        raise BadRequest("next_page_token does not belong to these filters; start again without it.")
    return token


def _attributes(item: Listed) -> dict[str, Any]:
    return {
        "initiated_by": attribute(item, sa.INITIATED_BY), "interaction_name": attribute(item, sa.INTERACTION),
        "visibility": attribute(item, sa.VISIBILITY), "document_id": attribute(item, sa.DOCUMENT_ID),
        "event_name": attribute(item, sa.EVENT_NAME), "rule_id": attribute(item, sa.RULE_ID),
        "rule_name": attribute(item, sa.RULE_NAME),
    }


def summary(item: Listed) -> RunSummary:
    return RunSummary(**timing(item), run_id=item.run_id, workflow_id=item.id, type=item.workflow_type,
                      vertesia_workflow_type=item.workflow_type, **_attributes(item))


def client_summary(item: Listed) -> ClientRunSummary:
    return ClientRunSummary(**client_timing(item), run_id=item.run_id, workflow_id=item.id, type=item.workflow_type,
                            vertesia_workflow_type=item.workflow_type, **_attributes(item))


async def runs(svc: Services, who: Principal, body: ListRuns, *, conversations: bool,
               wire: Wire = Wire.SEED) -> RunList | ClientRunList:
    query = all_of(access.scope(who, conversations=conversations,
                                unattributed_project=svc.settings.unattributed_runs_project), *filters(body))
    token = _decode_token(query, body.next_page_token) if body.next_page_token else None
    items, next_token = await svc.temporal.list(query, page_size=body.page_size, next_page_token=token)
    page_token = _encode_token(query, next_token) if next_token else None
    if wire is Wire.CLIENT:
        return ClientRunList(runs=[client_summary(item) for item in items], next_page_token=page_token,
                             has_more=next_token is not None)
    return RunList(runs=[summary(item) for item in items], next_page_token=page_token,
                   has_more=next_token is not None)
