"""Latency and errors of the gateway's Redis and Temporal calls, and the span of a raw signal.

Three hooks, each at the one place every call of its kind passes:

- `TimedRedis`/`TimedRedisCluster`: the Redis client classes the gateway connects with; every command (the stores'
  Lua scripts included) is timed by name. Pipelines and the updates subscription are not.
- `TemporalCallTimer`: a Temporal client interceptor timing start, describe, count, query,
  update, cancel and terminate calls. A history long poll (watching a run for its close) is
  left out: its duration is the run's, not Temporal's.
- `SignalTelemetry`: `TemporalService.signal` sends signals as a raw gRPC request (to set the
  request id Temporal deduplicates on), which no client interceptor sees; this times it and,
  with tracing on, wraps it in a `SignalWorkflow:<name>` CLIENT span whose context travels in
  the signal's header, as the SDK's interceptor would put it, so the worker's
  `HandleSignal:<name>` span links back to the request that sent it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import temporalio.client
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.api.common.v1 import Header
from temporalio.service import RPCError

from signalway.gateway.telemetry import GatewayTelemetry

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# The header key and encoding of temporalio.contrib.opentelemetry.TracingInterceptor.
TRACER_HEADER = "_tracer-data"


class _TimedCommands:
    """Reports each command's latency and failure to `telemetry` (mixed into a client class)."""

    telemetry: GatewayTelemetry | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        run = super().execute_command  # type: ignore[misc]  # the client class this is mixed into has it
        telemetry = self.telemetry
        if telemetry is None:
            return await run(*args, **options)
        started = time.perf_counter()
        error: str | None = None
        try:
            return await run(*args, **options)
        except RedisTimeoutError:
            error = "timeout"
            raise
        except (RedisConnectionError, OSError):
            error = "connection"
            raise
        except RedisError:
            error = "response"
            raise
        finally:
            command = args[0] if args and isinstance(args[0], str) else "other"
            telemetry.redis_command(command, time.perf_counter() - started, error)


class TimedRedis(_TimedCommands, aioredis.Redis):  # type: ignore[misc]  # redis-py's own bases disagree
    """A Redis client whose commands are timed."""


class TimedRedisCluster(_TimedCommands, RedisCluster):  # type: ignore[misc]  # redis-py's own bases disagree
    """A Redis Cluster client whose commands are timed (each once, however many redirects it took)."""


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, RPCError):
        return exc.status.name
    return type(exc).__name__


class TemporalCallTimer(temporalio.client.Interceptor):
    def __init__(self, telemetry: GatewayTelemetry) -> None:
        self.telemetry = telemetry

    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _TimedOutbound(next, self.telemetry)


class _TimedOutbound(temporalio.client.OutboundInterceptor):
    def __init__(self, next: temporalio.client.OutboundInterceptor, telemetry: GatewayTelemetry) -> None:
        super().__init__(next)
        self._telemetry = telemetry

    @contextmanager
    def _timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        error: str | None = None
        try:
            yield
        except Exception as exc:
            error = _error_code(exc)
            raise
        finally:
            self._telemetry.temporal_call(operation, time.perf_counter() - started, error)

    async def start_workflow(self, input: temporalio.client.StartWorkflowInput) -> temporalio.client.WorkflowHandle[
            Any, Any]:
        with self._timed("StartWorkflow"):
            return await super().start_workflow(input)

    async def describe_workflow(
            self, input: temporalio.client.DescribeWorkflowInput) -> temporalio.client.WorkflowExecutionDescription:
        with self._timed("DescribeWorkflow"):
            return await super().describe_workflow(input)

    async def count_workflows(
            self, input: temporalio.client.CountWorkflowsInput) -> temporalio.client.WorkflowExecutionCount:
        with self._timed("CountWorkflows"):
            return await super().count_workflows(input)

    async def query_workflow(self, input: temporalio.client.QueryWorkflowInput) -> Any:
        with self._timed("QueryWorkflow"):
            return await super().query_workflow(input)

    async def start_workflow_update(
            self, input: temporalio.client.StartWorkflowUpdateInput) -> temporalio.client.WorkflowUpdateHandle[Any]:
        with self._timed("UpdateWorkflow"):
            return await super().start_workflow_update(input)

    async def cancel_workflow(self, input: temporalio.client.CancelWorkflowInput) -> None:
        with self._timed("CancelWorkflow"):
            await super().cancel_workflow(input)

    async def terminate_workflow(self, input: temporalio.client.TerminateWorkflowInput) -> None:
        with self._timed("TerminateWorkflow"):
            await super().terminate_workflow(input)


class SignalTelemetry:
    """Times raw signal calls, and with a tracer, traces them into the run's history header."""

    def __init__(self, telemetry: GatewayTelemetry, tracer: Tracer | None) -> None:
        self._telemetry = telemetry
        self._tracer = tracer

    @contextmanager
    def __call__(self, name: str, workflow_id: str, header: Header) -> Iterator[None]:
        started = time.perf_counter()
        error: str | None = None
        try:
            if self._tracer is None:
                yield
            else:
                with self._span(name, workflow_id, header):
                    yield
        except Exception as exc:
            error = _error_code(exc)
            raise
        finally:
            self._telemetry.temporal_call("SignalWorkflow", time.perf_counter() - started, error)

    @contextmanager
    def _span(self, name: str, workflow_id: str, header: Header) -> Iterator[None]:
        from opentelemetry import propagate, trace
        from temporalio.converter import PayloadConverter

        assert self._tracer is not None
        with self._tracer.start_as_current_span(
                f"SignalWorkflow:{name}", kind=trace.SpanKind.CLIENT,
                attributes={"temporalWorkflowID": workflow_id}):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            if carrier:
                header.fields[TRACER_HEADER].CopyFrom(PayloadConverter.default.to_payloads([carrier])[0])
            yield
