"""A tiny OTLP/HTTP trace collector on 127.0.0.1: what the processes under test export.

It accepts `POST /v1/traces` (protobuf, as `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf` sends
it), decodes it with `opentelemetry-proto` and keeps every span with its service name.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signalway.localstack import free_port
from tests.helpers.polling import eventually


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, ...
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, object]
    links: tuple[SpanLink, ...]


@dataclass
class Collector:
    endpoint: str  # what OTEL_EXPORTER_OTLP_ENDPOINT is set to
    spans: list[Span] = field(default_factory=list)

    def trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def named(self, name: str, trace_id: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.name == name and (trace_id is None or s.trace_id == trace_id)]

    def parent_of(self, span: Span) -> Span | None:
        return next((s for s in self.spans if s.span_id == span.parent_id and s.trace_id == span.trace_id), None)

    def ancestors(self, span: Span) -> list[Span]:
        chain: list[Span] = []
        parent = self.parent_of(span)
        while parent is not None:
            chain.append(parent)
            parent = self.parent_of(parent)
        return chain

    async def wait_for(self, *names: str, trace_id: str | None = None, within: float = 30) -> list[Span]:
        """The first span of each name (in `trace_id` when given), once all have arrived."""

        async def arrived() -> list[Span] | None:
            found = [next(iter(self.named(n, trace_id)), None) for n in names]
            return None if None in found else [s for s in found if s is not None]

        return await eventually(arrived, within=within, what=f"spans {names}")


def _value(value: object) -> object:
    kind = value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(value, kind) if kind else None


def _span(service: str, span: ProtoSpan) -> Span:
    return Span(
        service=service, name=span.name, kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex() or None,
        attributes={a.key: _value(a.value) for a in span.attributes},
        links=tuple(SpanLink(link.trace_id.hex(), link.span_id.hex()) for link in span.links),
    )


@asynccontextmanager
async def serve_collector() -> AsyncIterator[Collector]:
    port = free_port()
    collector = Collector(endpoint=f"http://127.0.0.1:{port}")

    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = next((str(_value(a.value)) for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "")
            for scope_spans in resource_spans.scope_spans:
                collector.spans.extend(_span(service, s) for s in scope_spans.spans)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())

    async def listening() -> bool:
        return server.started

    await eventually(listening, within=10, what="the OTLP collector to listen")
    try:
        yield collector
    finally:
        server.should_exit = True
        await task
