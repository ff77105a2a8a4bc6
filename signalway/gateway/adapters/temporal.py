"""The one module of the gateway that talks to `temporalio.client`.

It speaks Temporal terms (executions, history events, payloads) and turns Temporal's
failures into the gateway's error tree; routes never see an `RPCError`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from temporalio.api.common.v1 import Header, Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryReverseRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.client import (
    WorkflowExecution as ListedExecution,
)
from temporalio.common import (
    RawValue,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from signalway import search_attributes as sa
from signalway.gateway.adapters.history import failure_summary
from signalway.gateway.adapters.payloads import decode_metadata, shown_as_is
from signalway.gateway.adapters.visibility import all_of, equals
from signalway.gateway.errors import (
    BackendUnavailable,
    BadRequest,
    OutcomeUnknown,
    Problem,
    QueryFailed,
    RateLimited,
    UpdateRejected,
    WorkflowClosed,
    WorkflowNotFound,
)

METADATA_QUERY = "__temporal_workflow_metadata"


# What services hold of a run; they name these types without importing `temporalio`.
Description = WorkflowExecutionDescription
Listed = ListedExecution
Status = WorkflowExecutionStatus


class NoWorkerAnswered(BackendUnavailable):
    """A query found no worker to answer it in time: Temporal is up, no worker polls."""


@dataclass(frozen=True)
class HandlerSet:
    """The names one kind of handler (signal, query, update) answers to."""

    names: tuple[str, ...]  # what a caller is told about
    dynamic: bool  # a dynamic handler takes any name
    builtin: tuple[str, ...] = ()  # the SDK's own (`__stack_trace`, ...): answered, not advertised

    def accepts(self, name: str) -> bool:
        return self.dynamic or name in self.names or name in self.builtin

    @classmethod
    def of(cls, definitions: Sequence[Any]) -> HandlerSet:
        names = [d.name for d in definitions]
        return cls(
            names=tuple(n for n in names if n and not n.startswith("__")),
            dynamic="" in names,
            builtin=tuple(n for n in names if n.startswith("__")),
        )


@dataclass(frozen=True)
class WorkflowHandlers:
    signals: HandlerSet
    queries: HandlerSet
    updates: HandlerSet
    # False: the run's SDK did not describe its handlers (it lacks the metadata query, or
    # answers in an encoding the gateway cannot read); every name is then let through.
    known: bool = True


_ANY_NAME = HandlerSet(names=(), dynamic=True)
UNKNOWN_HANDLERS = WorkflowHandlers(signals=_ANY_NAME, queries=_ANY_NAME, updates=_ANY_NAME, known=False)


class TtlLru:
    """An in-process LRU of at most `size` entries, each kept for `ttl` seconds."""

    def __init__(self, *, ttl: float, size: int) -> None:
        self._ttl, self._size = ttl, size
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return item[1]

    def pop(self, key: Any) -> None:
        self._items.pop(key, None)

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = (time.monotonic() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass(frozen=True)
class RunFacts:
    """What never changes about a run once started: who it belongs to and what it is."""

    workflow_type: str
    project: str | None
    visibility: str | None
    initiated_by: str | None


CLOSE_STATUS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "COMPLETED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "FAILED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "CANCELED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "TERMINATED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "TIMED_OUT",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
}


SignalHook = Callable[[str, str, Header], AbstractContextManager[None]]


def _no_hook(name: str, workflow_id: str, header: Header) -> AbstractContextManager[None]:
    return nullcontext()


class TemporalService:
    def __init__(
        self, client: Client, *, task_queue: str, rpc_timeout: float, retry_after_seconds: int,
        query_timeout: float = 3, update_timeout: float = 30, signal_hook: SignalHook = _no_hook,
        unattributed_project: str | None = None,
    ) -> None:
        self.client = client
        # SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT: the project of runs without Signalway's search
        # attributes (started by another client); None: they belong to no project (404).
        self._unattributed_project = unattributed_project
        # The converter `signalway.temporal.connect` installs: JSON values and pydantic models
        # become `json/plain` payloads of `pydantic_core.to_json`, which `_json_payloads` makes
        # without the converter chain's per-value dispatch (the signal hot path).
        self._plain_json = client.data_converter is pydantic_data_converter
        # Telemetry of the raw signal RPC, which the client's interceptors do not see
        # (gateway.adapters.telemetry.SignalTelemetry): its latency, and with tracing its span.
        self._signal_hook = signal_hook
        self._task_queue = task_queue
        self._rpc_timeout = timedelta(seconds=rpc_timeout)
        self._query_timeout = timedelta(seconds=min(query_timeout, rpc_timeout))
        self._retry_after = retry_after_seconds
        self._update_timeout = update_timeout
        # Positive answers only: a handler a run once had is kept for a while, while a name
        # it did not know is always asked again (handlers can be registered at run time).
        # Five minutes, as the facts: each answer is a query through a worker (a history
        # round trip, ~1 ms of gateway CPU and more of Temporal's and the worker's), which at
        # 30 s a gateway signalling a few hundred hot runs asked several times a second.
        self._handlers = TtlLru(ttl=300, size=100_000)
        # Immutable per run, so a hot run (a chat, a signal loop) is not described per message.
        self._facts = TtlLru(ttl=300, size=100_000)
        self._runs = TtlLru(ttl=300, size=100_000)  # run id → (workflow id, facts)
        # Run ids found nowhere, briefly: visibility may still show a run started elsewhere
        # a moment ago, so "missing" is not kept for long.
        self._missing = TtlLru(ttl=5, size=100_000)

    # -- error translation -------------------------------------------------------------

    def unavailable(self, detail: str) -> BackendUnavailable:
        return BackendUnavailable(detail, retry_after_seconds=self._retry_after)

    @contextmanager
    def _errors(self, workflow_id: str | None = None, *, write: bool = False) -> Iterator[None]:
        """Temporal's failures as the gateway's errors. For a `write`, a call that timed out
        after it was sent may have acted: that is `OutcomeUnknown`, never a 503."""
        try:
            yield
        except Problem:
            raise
        except RPCError as exc:
            if write and exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise OutcomeUnknown(
                    f"Temporal did not answer within {self._rpc_timeout.total_seconds():g}s: the request may have "
                    "acted. Retry with the same Idempotency-Key to act at most once and learn the outcome."
                ) from exc
            raise self._translate(exc, workflow_id) from exc
        except RuntimeError as exc:
            # A lazy client that cannot reach the server raises a plain RuntimeError.
            if "connect" in str(exc).lower():
                raise self.unavailable("Temporal is unreachable.") from exc
            raise

    def _translate(self, exc: RPCError, workflow_id: str | None) -> Problem:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return WorkflowNotFound(f"Workflow {workflow_id} was not found." if workflow_id else exc.message)
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return self.unavailable("Temporal is unavailable; retry shortly.")
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            return RateLimited(
                "Temporal is rate limiting this workflow or namespace; retry shortly.",
                retry_after_seconds=1,
            )
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return BadRequest(exc.message)
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:
            # e.g. a query to a run that closed before its first workflow task ran.
            return WorkflowClosed(f"Workflow {workflow_id}: {exc.message}." if workflow_id else exc.message)
        return self.unavailable(f"Temporal answered {exc.status.name}: {exc.message}")

    # -- reads ---------------------------------------------------------------------------

    def handle(self, workflow_id: str, run_id: str | None = None) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id, run_id=run_id)

    async def describe(self, workflow_id: str, *, run_id: str | None = None) -> WorkflowExecutionDescription:
        """Describe a run (whether the caller may see it is `services.access`'s decision)."""
        with self._errors(workflow_id):
            desc = await self.handle(workflow_id, run_id).describe(rpc_timeout=self._rpc_timeout)
        self.facts_of(desc)
        return desc

    def cached_run(self, run_id: str) -> tuple[str, RunFacts] | None:
        found: tuple[str, RunFacts] | None = self._runs.get(run_id)
        return found

    def remember_run(self, run_id: str, workflow_id: str, facts: RunFacts) -> None:
        self._runs.put(run_id, (workflow_id, facts))
        self._missing.pop(run_id)

    def remember_missing(self, run_id: str) -> None:
        self._missing.put(run_id, True)

    def known_missing(self, run_id: str) -> bool:
        return self._missing.get(run_id) is not None

    def facts_of(self, desc: ListedExecution) -> RunFacts:
        """A described or listed run's facts, remembered for later requests."""
        attrs = desc.typed_search_attributes
        facts = RunFacts(
            workflow_type=desc.workflow_type,
            project=attrs.get(sa.PROJECT) or self._unattributed_project,
            visibility=attrs.get(sa.VISIBILITY),
            initiated_by=attrs.get(sa.INITIATED_BY),
        )
        self._facts.put((desc.id, desc.run_id), facts)
        return facts

    async def run_facts(self, workflow_id: str, run_id: str) -> tuple[RunFacts, bool | None]:
        """The run's facts, and whether it is open when that was just read (None if cached)."""
        cached: RunFacts | None = self._facts.get((workflow_id, run_id))
        if cached is not None:
            return cached, None
        with self._errors(workflow_id):
            desc = await self.handle(workflow_id, run_id).describe(rpc_timeout=self._rpc_timeout)
        return self.facts_of(desc), is_open(desc.status)

    async def memo(self, desc: ListedExecution) -> dict[str, Any]:
        try:
            return dict(await desc.memo())
        except Exception:  # a memo written by someone else's converter: show none rather than fail
            return {}

    async def decode(self, payloads: Payloads | Sequence[Any]) -> list[Any]:
        """Payloads as values; one the gateway cannot decode (another SDK's encoding, a codec
        it lacks) is shown as what it is (`{"encoding", "data_base64"}`), never an error."""
        items = list(payloads.payloads if isinstance(payloads, Payloads) else payloads)
        if not items:
            return []
        try:
            return await self.client.data_converter.decode(items)
        except Exception:
            return [await self._decode_or_show(item) for item in items]

    async def _decode_or_show(self, payload: Payload) -> Any:
        try:
            return (await self.client.data_converter.decode([payload]))[0]
        except Exception:
            return shown_as_is(payload)

    async def _raw_result(self, value: Any) -> Any:
        """A query's or update's result asked for as a `RawValue`, decoded or shown as is."""
        return await self._decode_or_show(value.payload) if isinstance(value, RawValue) else value

    async def decode_one(self, payloads: Payloads) -> Any:
        values = await self.decode(payloads)
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    async def history(
        self, workflow_id: str, run_id: str | None, *, page_size: int = 500
    ) -> AsyncIterator[HistoryEvent]:
        """Stream the history page by page; the whole history is never held in memory."""
        iterator = self.handle(workflow_id, run_id).fetch_history_events(
            page_size=page_size, rpc_timeout=self._rpc_timeout
        )
        with self._errors(workflow_id):
            async for event in iterator:
                yield event

    async def input_of(self, workflow_id: str, run_id: str | None) -> Any:
        """The run's input, decoded from its first history event."""
        first = await self.first_event(workflow_id, run_id)
        if first is None:
            return None
        return await self.decode_one(first.workflow_execution_started_event_attributes.input)

    async def first_event(self, workflow_id: str, run_id: str | None) -> HistoryEvent | None:
        async for event in self.history(workflow_id, run_id, page_size=1):
            return event
        return None

    async def close_event(self, workflow_id: str, run_id: str | None) -> HistoryEvent | None:
        iterator = self.handle(workflow_id, run_id).fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT,
            rpc_timeout=self._rpc_timeout,
        )
        with self._errors(workflow_id):
            async for event in iterator:
                return event
        return None

    async def wait_closed(self, workflow_id: str, run_id: str) -> tuple[str, str | None]:
        """Long-poll until the run closes: its status name (`COMPLETED`, ...) and, when it
        continued as new, the new run's id."""
        iterator = self.handle(workflow_id, run_id).fetch_history_events(
            wait_new_event=True, event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        )
        with self._errors(workflow_id):
            async for event in iterator:
                status = CLOSE_STATUS.get(event.event_type)
                if status is None:
                    continue
                new_run_id = None
                if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                    new_run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                return status, new_run_id
        raise self.unavailable(f"Temporal ended the history of {workflow_id} without a close event.")

    async def find_run(self, run_id: str, *, project: str) -> tuple[str, RunFacts] | None:
        """A run of the project found by its run id alone (visibility: eventually consistent)."""
        in_project = equals(sa.PROJECT, project)
        if project == self._unattributed_project:
            in_project = f"{in_project} OR {sa.PROJECT.name} IS NULL"
        query = all_of(equals("RunId", run_id), in_project)
        items, _ = await self.list(query, page_size=1)
        if not items:
            return None
        return items[0].id, self.facts_of(items[0])

    async def newest_events(
        self, workflow_id: str, run_id: str, *, first_page: int = 16, limit: int = 256
    ) -> AsyncIterator[HistoryEvent]:
        """Events newest first: a small first page (what was just written is near the end),
        then larger ones, at most `limit` events."""
        token = b""
        seen, page_size = 0, first_page
        while seen < limit:
            request = GetWorkflowExecutionHistoryReverseRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                maximum_page_size=min(page_size, limit - seen),
                next_page_token=token,
            )
            with self._errors(workflow_id):
                response = await self.client.workflow_service.get_workflow_execution_history_reverse(
                    request, timeout=self._rpc_timeout
                )
            for event in response.history.events:
                seen += 1
                yield event
            token = response.next_page_token
            if not token or not response.history.events:
                return
            page_size = limit

    def _no_worker(self, exc: BackendUnavailable) -> BackendUnavailable:
        cause = exc.__cause__
        # Temporal answered the describe just before, so a query that times out found no worker.
        if isinstance(cause, RPCError) and cause.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            return NoWorkerAnswered(
                "No worker answered for this workflow; is a Signalway worker running?",
                retry_after_seconds=self._retry_after,
            )
        return exc

    async def handlers(self, workflow_id: str, run_id: str, *, fresh: bool = False) -> WorkflowHandlers:
        """Ask the running workflow itself which signals, queries and updates it handles.

        Raises `NoWorkerAnswered` when no worker answers within the query timeout (a query
        waits for a worker; Temporal itself being down raises `BackendUnavailable`).
        """
        key = (workflow_id, run_id)
        cached: WorkflowHandlers | None = None if fresh else self._handlers.get(key)
        if cached is not None:
            return cached
        try:
            with self._errors(workflow_id):
                # Raw: each SDK encodes the answer its own way (gateway.adapters.payloads).
                raw = await self.handle(workflow_id, run_id).query(
                    METADATA_QUERY, result_type=RawValue, rpc_timeout=self._query_timeout
                )
        except BackendUnavailable as exc:
            raise self._no_worker(exc) from exc.__cause__
        except Problem:
            raise
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
            # An SDK without the query ("unknown queryType"), or a run that refuses queries.
            raw = None
        except Exception:  # an answer the client could not even unwrap (e.g. a codec it lacks)
            raw = None
        metadata = decode_metadata(raw.payload) if isinstance(raw, RawValue) else None
        if metadata is None:
            handlers = UNKNOWN_HANDLERS
        else:
            definition = metadata.definition
            handlers = WorkflowHandlers(
                signals=HandlerSet.of(definition.signal_definitions),
                queries=HandlerSet.of(definition.query_definitions),
                updates=HandlerSet.of(definition.update_definitions),
            )
        self._handlers.put(key, handlers)
        return handlers

    async def query(self, workflow_id: str, run_id: str, name: str, args: Sequence[Any]) -> Any:
        try:
            with self._errors(workflow_id):
                raw = await self.handle(workflow_id, run_id).query(
                    name, args=list(args), result_type=RawValue, rpc_timeout=self._query_timeout
                )
        except BackendUnavailable as exc:
            raise self._no_worker(exc) from exc.__cause__
        except WorkflowQueryRejectedError as exc:
            raise QueryFailed(f"Query {name!r} was rejected: {exc}") from None
        except WorkflowQueryFailedError as exc:
            raise QueryFailed(f"Query {name!r} failed: {exc.message}") from None
        return await self._raw_result(raw)

    async def update(
        self, workflow_id: str, run_id: str, name: str, args: Sequence[Any], *, update_id: str | None
    ) -> Any:
        """Run a Temporal Update to completion; a validator's rejection is `UpdateRejected`.

        With `update_id` (the Idempotency-Key) Temporal runs the update once and answers a
        retry with the same outcome.
        """
        handle = self.handle(workflow_id, run_id)
        try:
            with self._errors(workflow_id, write=True):
                raw = await asyncio.wait_for(
                    handle.execute_update(name, args=list(args), id=update_id, result_type=RawValue,
                                          rpc_timeout=self._rpc_timeout),
                    timeout=self._update_timeout,
                )
        except WorkflowNotFound:
            raise WorkflowClosed(f"Workflow {workflow_id} is closed; it takes no more updates.") from None
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            kind = getattr(cause, "type", None) or type(cause).__name__
            message = getattr(cause, "message", None) or str(cause)
            raise UpdateRejected(
                f"Update {name!r} was rejected: {message}", errors=[{"type": kind, "msg": message}]
            ) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise OutcomeUnknown(
                f"Update {name!r} did not finish within {self._update_timeout:g}s; it may still run. "
                "Retry with the same Idempotency-Key to get its outcome."
            ) from None
        return await self._raw_result(raw)

    async def list(
        self, query: str, *, page_size: int, next_page_token: bytes | None = None
    ) -> tuple[list[ListedExecution], bytes | None]:
        with self._errors():
            iterator = self.client.list_workflows(
                query, page_size=page_size, next_page_token=next_page_token, rpc_timeout=self._rpc_timeout
            )
            await iterator.fetch_next_page()
        return list(iterator.current_page or []), iterator.next_page_token or None

    async def count(self, query: str) -> int:
        with self._errors():
            result = await self.client.count_workflows(query, rpc_timeout=self._rpc_timeout)
        return result.count

    # -- writes --------------------------------------------------------------------------

    async def start(
        self,
        workflow_type: str,
        arg: Any,
        *,
        workflow_id: str,
        search_attributes: Mapping[str, str],
        memo: Mapping[str, Any],
        task_queue: str | None = None,
    ) -> str | None:
        """Start a run on `task_queue` (default: Signalway's own); returns its run id, or None
        when `workflow_id` was already used."""
        with self._errors(workflow_id, write=True):
            try:
                handle = await self.client.start_workflow(
                    workflow_type,
                    arg,
                    id=workflow_id,
                    task_queue=task_queue or self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    search_attributes=TypedSearchAttributes([
                        SearchAttributePair(SearchAttributeKey.for_keyword(name), value)
                        for name, value in search_attributes.items()
                    ]),
                    memo=dict(memo),
                    rpc_timeout=self._rpc_timeout,
                )
            except WorkflowAlreadyStartedError:
                return None
        return handle.result_run_id

    async def signal(
        self, workflow_id: str, run_id: str, name: str, args: Sequence[Any], *, request_id: str | None,
        receipt: bool = False,
    ) -> int | None:
        """Signal a run; with `receipt`, returns the history event id that recorded it when it
        can be found (one more Temporal read: a reverse history page); otherwise None.

        `request_id` is recorded by Temporal on the signal event and deduplicates a retried
        request, so the same id never signals twice.
        """
        # Random, unique per request (Temporal deduplicates on it); no UUID object needed.
        request_id = request_id or os.urandom(16).hex()
        payloads = _json_payloads(args) if self._plain_json else None
        if payloads is None:
            payloads = await self.client.data_converter.encode(list(args)) if args else []
        request = SignalWorkflowExecutionRequest(
            namespace=self.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            signal_name=name,
            input=Payloads(payloads=payloads),
            identity=self.client.identity,
            request_id=request_id,
        )
        try:
            with self._errors(workflow_id, write=True), self._signal_hook(name, workflow_id, request.header):
                await self.client.workflow_service.signal_workflow_execution(
                    request, timeout=self._rpc_timeout
                )
        except WorkflowNotFound:
            # The run may have closed between our describe and the signal.
            raise WorkflowClosed(f"Workflow {workflow_id} is closed; it takes no more signals.") from None
        if not receipt:
            return None
        # A signal that arrives while the run's workflow task is running is written to the
        # history when that task completes: look again, briefly, before answering without one.
        for pause in _RECEIPT_PAUSES:
            await asyncio.sleep(pause)
            try:
                async for event in self.newest_events(workflow_id, run_id):
                    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                        if event.workflow_execution_signaled_event_attributes.request_id == request_id:
                            return event.event_id
            except Problem:
                # Temporal accepted the signal: the answer is a success whatever the receipt read does.
                return None
        return None

    async def cancel(self, workflow_id: str, run_id: str, *, reason: str | None = None) -> None:
        try:
            with self._errors(workflow_id, write=True):
                await self.handle(workflow_id, run_id).cancel(reason=reason or "", rpc_timeout=self._rpc_timeout)
        except WorkflowNotFound:
            raise WorkflowClosed(f"Workflow {workflow_id} is already closed.") from None

    async def terminate(self, workflow_id: str, run_id: str, *, reason: str | None = None) -> None:
        try:
            with self._errors(workflow_id, write=True):
                await self.handle(workflow_id, run_id).terminate(reason=reason, rpc_timeout=self._rpc_timeout)
        except WorkflowNotFound:
            raise WorkflowClosed(f"Workflow {workflow_id} is already closed.") from None


_RECEIPT_PAUSES = (0, 0.02, 0.05, 0.1, 0.2, 0.4)  # seconds before each receipt read
_JSON_PLAIN = {"encoding": b"json/plain"}
_JSON_VALUE_TYPES = (dict, list, str, int, float, bool, BaseModel)


def _json_payloads(args: Sequence[Any]) -> list[Payload] | None:
    """What `pydantic_data_converter` makes of JSON values and pydantic models, byte for byte
    (its JSON converter is `pydantic_core.to_json` under `json/plain`); None for anything
    else (None, bytes, protobuf messages: other converters of the chain), left to the converter."""
    payloads = []
    for arg in args:
        if not isinstance(arg, _JSON_VALUE_TYPES):
            return None
        payloads.append(Payload(metadata=_JSON_PLAIN, data=to_json(arg)))
    return payloads


def pending_activities(desc: WorkflowExecutionDescription) -> list[dict[str, Any]]:
    """The run's pending activities, in the runs surface's `PendingActivity` shape."""
    pending = []
    for activity in desc.raw_description.pending_activities:
        last_failure = None
        if activity.HasField("last_failure"):
            failure = failure_summary(activity.last_failure)
            last_failure = {"message": failure["message"], "type": failure.get("type")}
        pending.append({
            "activityId": activity.activity_id,
            "activityType": activity.activity_type.name,
            "state": PendingActivityState.Name(activity.state),
            "attempt": activity.attempt,
            "maximumAttempts": activity.maximum_attempts,
            "scheduledTime": activity.scheduled_time.seconds if activity.HasField("scheduled_time") else None,
            "lastStartedTime": activity.last_started_time.seconds if activity.HasField("last_started_time") else None,
            "lastHeartbeatTime": (
                activity.last_heartbeat_time.seconds if activity.HasField("last_heartbeat_time") else None
            ),
            "lastFailure": last_failure,
        })
    return pending


def is_open(status: WorkflowExecutionStatus | None) -> bool:
    return status == WorkflowExecutionStatus.RUNNING

