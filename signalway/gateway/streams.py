"""Open SSE streams per principal, bounded per gateway process (`SIGNALWAY_MAX_STREAMS_PER_PRINCIPAL`).

A stream holds its slot from the moment its route authenticates it until the request ends
(the client goes, the run closes, the gateway stops). The count lives in this process: with
N processes a principal may hold up to N times the bound in all, which still caps what one
credential can pin on each process.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from signalway.gateway.errors import AllowedAction, RateLimited

_RELEASES = "signalway.stream_releases"


class StreamLimiter:
    def __init__(self, limit: int, *, retry_after_seconds: int) -> None:
        self.limit = limit
        self._retry_after = retry_after_seconds
        self._open: dict[tuple[str, str], int] = {}

    def total(self) -> int:
        """Streams open on this process, all principals together (read at scrape time)."""
        return sum(self._open.values())

    def open_streams(self, project: str, user: str) -> int:
        return self._open.get((project, user), 0)

    def hold(self, project: str, user: str, scope: Scope) -> None:
        """Count one more stream of this principal until the request ends; 429 past the bound."""
        releases: list[Callable[[], None]] | None = scope.get(_RELEASES)
        if releases is None:
            raise RuntimeError("StreamSlotsMiddleware is not installed: a stream slot would never be released")
        key = (project, user)
        held = self._open.get(key, 0)
        if held >= self.limit:
            raise RateLimited(
                f"At most {self.limit} streams of one caller may be open on this gateway; close one first.",
                retry_after_seconds=self._retry_after,
                allowed_actions=[AllowedAction(rel="close-a-stream", hint="close a stream you no longer read")],
            )
        self._open[key] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]

        releases.append(release)


class StreamSlotsMiddleware:
    """Releases the stream slots a request took (`StreamLimiter.hold`) when the request ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        releases: list[Callable[[], None]] = []
        scope[_RELEASES] = releases
        try:
            await self.app(scope, receive, send)
        finally:
            for release in releases:
                release()
