"""The HTTP gateway: stateless Starlette app turning REST calls into Temporal client calls.

It serves five public API documents ("the seeds", kept in the project's shared/seeds):
the durable workflows API (seeds 000 and 002, `/api/v1/durable/workflows`), the workflow
runs API (seed 001, `/api/v1/workflows/...`), the resume URL API (seed 003,
`/public/send-user-signal/...`) and the event triggers API (seed 004, `/v1/events`).
"The seed's field name" in a comment means a name those clients already send or read.

    routes/    parse a request, call one service function, render
    services/  the rules: access, start, messages, read, lists, updates, resume, events
    adapters/  the only modules that talk to Temporal and Redis
"""

from signalway.gateway.app import create_app

__all__ = ["create_app"]
