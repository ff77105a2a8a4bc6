"""Open SSE streams per principal, bounded per gateway process (`SIGNALWAY_MAX_STREAMS_PER_PRINCIPAL`).

A stream holds its slot from the moment its route authenticates it until the request ends
(the client goes, the run closes, the gateway stops). The count lives in this process: with
N processes a principal may hold up to N times the bound in all, which still caps what one
credential can pin on each process.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from signalway.gateway.errors import AllowedAction, QuotaExceeded, RateLimited

_RELEASES = "signalway.stream_releases"


class StreamLimiter:
    """Open streams of this process: per principal, per project (`SIGNALWAY_MAX_STREAMS_PER_PROJECT`)
    and in all (`SIGNALWAY_MAX_STREAMS_PER_PROCESS`); 0 is no bound."""

    def __init__(self, limit: int, *, retry_after_seconds: int, per_project: int = 0, per_process: int = 0,
                 on_change: Callable[[str, int, int], None] | None = None,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.limit = limit
        self.per_project = per_project
        self.per_process = per_process
        self._retry_after = retry_after_seconds
        self._open: dict[tuple[str, str], int] = {}
        self._projects: dict[str, int] = {}
        self._total = 0
        self._on_change = on_change  # (project, its streams, all streams): the quota gauges
        self._on_refused = on_refused  # the quota's name

    def total(self) -> int:
        """Streams open on this process, all principals together (read at scrape time)."""
        return self._total

    def _refuse(self, quota: str, detail: str) -> RateLimited | QuotaExceeded:
        if self._on_refused is not None:
            self._on_refused(quota)
        kind = RateLimited if quota == "streams_per_principal" else QuotaExceeded
        return kind(detail, retry_after_seconds=self._retry_after, allowed_actions=[
            AllowedAction(rel="close-a-stream", hint="close a stream you no longer read")])

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
            raise self._refuse("streams_per_principal",
                               f"At most {self.limit} streams of one caller may be open on this gateway; close one first.")
        of_project = self._projects.get(project, 0)
        if self.per_project and of_project >= self.per_project:
            raise self._refuse("streams_per_project",
                               f"At most {self.per_project} streams of one project may be open on this gateway "
                               "(quota streams_per_project, SIGNALWAY_MAX_STREAMS_PER_PROJECT); close one first.")
        if self.per_process and self._total >= self.per_process:
            raise self._refuse("streams_per_process",
                               f"This gateway process has {self.per_process} streams open, its bound "
                               "(quota streams_per_process, SIGNALWAY_MAX_STREAMS_PER_PROCESS); retry shortly.")
        self._open[key] = held + 1
        self._projects[project] = of_project + 1
        self._total += 1
        self._changed(project)
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
            project_left = self._projects[project] - 1
            if project_left:
                self._projects[project] = project_left
            else:
                del self._projects[project]
            self._total -= 1
            self._changed(project)

        releases.append(release)

    def _changed(self, project: str) -> None:
        if self._on_change is not None:
            self._on_change(project, self._projects.get(project, 0), self._total)


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
