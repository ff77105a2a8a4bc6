"""Starting runs, for the durable surface (`create`) and the runs surface (`execute`).

Both record the search attributes the access layer and the lists read (project, API,
starter, visibility, the list filters), validate the input against the type's JSON Schema in the workflow catalog,
refuse webhook targets outside the allowed networks, and turn an `Idempotency-Key` into
the workflow id so Temporal itself refuses a second start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from signalway import search_attributes as sa
from signalway.catalog import WorkflowEntry, payload_errors, with_defaults
from signalway.gateway.adapters.temporal import RunFacts
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import (
    AllowedAction,
    BackendUnavailable,
    IdempotencyConflict,
    UnknownWorkflowType,
    Unprocessable,
    WebhookUrlNotAllowed,
)
from signalway.gateway.services import access
from signalway.gateway.services.idempotency import derived_id, fingerprint
from signalway.webhook_targets import WebhookTargetRefused, resolve_target

# Memo keys: the fingerprint of the request that started a run (an Idempotency-Key retry
# must match it), and the durable surface's input when small enough to show in lists.
MEMO_REQUEST_HASH = "signalway_request_hash"
MEMO_INPUT = "signalway_input"
MEMO_INPUT_MAX_BYTES = 2048
DEFAULT_INTERACTION = "default"
# Input fields that name a URL the worker will POST to.
_WEBHOOK_FIELDS = ("webhook_url",)
# The list filters a start may record, by their request field names.
FILTERS = {"document_id": sa.DOCUMENT_ID, "event_name": sa.EVENT_NAME, "rule_id": sa.RULE_ID,
           "rule_name": sa.RULE_NAME}


@dataclass(frozen=True)
class StartRequest:
    """What a surface asks to start, in the terms of search attributes."""

    workflow_type: str
    input: Any
    api: str  # which surface started it: `durable` or `runs`
    visibility: str = "project"
    attributes: Mapping[str, str | None] | None = None  # list filters: document_id, rule_id, ...
    interaction: str | None = None
    memo: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Started:
    workflow_id: str
    run_id: str
    created: bool  # False: the Idempotency-Key's run, started before


def require_known_type(svc: Services, workflow_type: str, *, field: str, operation_id: str,
                       href: str | None = None) -> None:
    """422 listing the catalog's types when `workflow_type` is not one clients may start."""
    allowed = svc.settings.workflows.names()
    if workflow_type in allowed:
        return
    raise UnknownWorkflowType(
        f"Unknown {field} {workflow_type!r}; registered types: {', '.join(allowed)}.",
        allowed_actions=[AllowedAction(rel="use-workflow-type", hint=name, operation_id=operation_id,
                                       href=href.format(name=name) if href else None) for name in allowed],
    )


def checked(entry: WorkflowEntry | None, kind: str, name: str, value: Any, *, what: str) -> Any:
    """`value` when it satisfies the catalog's schema for it (none: anything goes), with the
    schema's defaults filled in; else a 422 naming the field, in the shape of the API's other
    validation errors."""
    validator = entry.schema_for(kind, name) if entry is not None else None
    if validator is None:
        return value
    if value is None and isinstance(validator.schema, dict) and validator.schema.get("type") == "object":
        value = {}  # no body: an object of defaults, as before
    errors = payload_errors(validator, value)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise Unprocessable(f"Invalid {what}: {where}: {first['msg']}.", errors=errors)
    return with_defaults(validator, value)


def workflow_input(svc: Services, workflow_type: str, value: Any, *, what: str) -> Any:
    """A start's input, checked against the type's input schema in the catalog."""
    return checked(svc.settings.workflows.get(workflow_type), "input", "", value, what=what)


async def check_webhooks(svc: Services, arg: Any) -> None:
    """422 `webhook_url_not_allowed` for a webhook target the worker would refuse anyway."""
    for name in _WEBHOOK_FIELDS:
        url = arg.get(name) if isinstance(arg, dict) else getattr(arg, name, None)
        if isinstance(url, str):
            try:
                await resolve_target(url, svc.settings.webhook_networks)
            except WebhookTargetRefused as exc:
                raise WebhookUrlNotAllowed(str(exc), errors=[{"loc": [name], "msg": exc.reason}]) from None


def _search_attributes(svc: Services, who: Principal, start: StartRequest) -> dict[str, str]:
    entry = svc.settings.workflows.get(start.workflow_type)
    conversation = entry is not None and entry.conversation
    interaction = start.interaction or (DEFAULT_INTERACTION if conversation else None)
    attributes = {sa.PROJECT.name: who.project, sa.API.name: start.api, sa.INITIATED_BY.name: who.initiated_by,
                  sa.VISIBILITY.name: start.visibility}
    if interaction:
        attributes[sa.INTERACTION.name] = interaction
    for name, value in (start.attributes or {}).items():
        if value:
            attributes[FILTERS[name].name] = value
    return attributes


async def start_run(svc: Services, who: Principal, start: StartRequest, *, key: str | None,
                    request: Any) -> Started:
    """Start a run; with an Idempotency-Key, the same request gets the same run, else 409."""
    arg = workflow_input(svc, start.workflow_type, start.input, what="input" if start.api == "durable" else "vars")
    entry = svc.settings.workflows.get(start.workflow_type)
    await check_webhooks(svc, arg)
    request_hash = fingerprint(start.workflow_type, request)
    workflow_id = derived_id(who, f"start:{start.api}", key) if key else str(uuid.uuid4())
    memo: dict[str, Any] = {MEMO_REQUEST_HASH: request_hash, **(start.memo or {})}
    if start.api == "durable" and len(json.dumps(start.input)) <= MEMO_INPUT_MAX_BYTES:
        memo[MEMO_INPUT] = start.input
    await svc.quotas.start_run(who.project)
    run_id = await svc.temporal.start(start.workflow_type, arg, workflow_id=workflow_id,
                                      task_queue=entry.task_queue if entry is not None else None,
                                      search_attributes=_search_attributes(svc, who, start), memo=memo)
    created = run_id is not None
    if run_id is None:
        # The caller's own key's run (the id is derived from project, caller and key). Its
        # recorded facts stand as recorded: a replay never rewrites starter or visibility.
        desc = await access.describe(svc, who, workflow_id)
        if (await svc.temporal.memo(desc)).get(MEMO_REQUEST_HASH) != request_hash:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
        await index_run(svc, desc.run_id, workflow_id, svc.temporal.facts_of(desc))
        return Started(workflow_id, desc.run_id, False)
    facts = RunFacts(workflow_type=start.workflow_type, project=who.project, visibility=start.visibility,
                     initiated_by=who.initiated_by)
    await index_run(svc, run_id, workflow_id, facts)
    return Started(workflow_id, run_id, created)


async def index_run(svc: Services, run_id: str, workflow_id: str, facts: RunFacts) -> None:
    """Record a started run for the routes that name it by run id alone (POST updates)."""
    svc.temporal.remember_run(run_id, workflow_id, facts)
    with suppress(BackendUnavailable):  # only an index: visibility finds the run without it
        await svc.redis.index_run(run_id, workflow_id, facts)

