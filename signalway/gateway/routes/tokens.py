"""Run-scoped stream tokens: `POST …/runs/{workflow_id}/{run_id}/stream-token`.

A backend that holds the user's token asks for one and hands it to the browser, whose
`EventSource` cannot send headers: `…/stream?access_token=<token>`. The token opens only
that run's `GET …/updates` and `GET …/stream`; every other route refuses it (401).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from signalway.gateway.deps import principal, services
from signalway.gateway.routes._params import RUN, RUN_ID, WORKFLOW_ID, json_response, run_ids
from signalway.gateway.routing import ApiRoute, Operation, read_optional_model
from signalway.gateway.services import tokens


class StreamTokenRequest(BaseModel):
    """How long the stream token should last."""

    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int | None = Field(
        None, ge=1, le=86_400,
        description="Lifetime in seconds; default 3600, capped by the gateway's SIGNALWAY_STREAM_TOKEN_MAX_TTL_SECONDS "
                    "and by the caller's own token.",
    )


class StreamToken(BaseModel):
    """A token that opens only this run's updates and stream."""

    token: str = Field(description="Present as `?access_token=` (EventSource) or `Authorization: Bearer`.")
    expires_at: int = Field(description="When it stops opening streams (epoch seconds); an open stream goes on.")


async def create_stream_token(request: Request) -> Response:
    svc, who = services(request), principal(request)
    workflow_id, run_id = run_ids(request)
    body = await read_optional_model(request, StreamTokenRequest)
    issued = await tokens.stream_token(svc, who, workflow_id, run_id, body.ttl_seconds)
    # A credential: no cache between here and the backend that asked may keep it.
    return json_response(StreamToken(token=issued.token, expires_at=issued.expires_at),
                         headers={"Cache-Control": "no-store"})


ROUTES = [
    ApiRoute(RUN + "/stream-token", create_stream_token, method="POST", operation=Operation(
        "createStreamToken", "Issue a token that opens only this run's updates and stream", ("updates",),
        schemes=("bearer",), body=StreamTokenRequest, body_required=False, responses={200: StreamToken},
        params=(WORKFLOW_ID, RUN_ID), errors=(400, 401, 404, 413, 422, 503))),
]
