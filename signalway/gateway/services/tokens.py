"""Stream tokens: what a browser presents to watch one run its user may see."""

from __future__ import annotations

from dataclasses import dataclass

from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.services import access

DEFAULT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class IssuedStreamToken:
    token: str
    expires_at: int  # epoch seconds


async def stream_token(svc: Services, who: Principal, workflow_id: str, run_id: str,
                       ttl_seconds: int | None) -> IssuedStreamToken:
    """A token that opens only this run's updates and stream, for as long as asked (1 hour by
    default), capped by SIGNALWAY_STREAM_TOKEN_MAX_TTL_SECONDS and by the caller's own token."""
    await access.run(svc, who, workflow_id, run_id)
    ttl = min(ttl_seconds or DEFAULT_TTL_SECONDS, svc.settings.stream_token_max_ttl_seconds)
    token, expires_at = svc.auth.issue_stream_token(who, workflow_id, run_id, ttl_seconds=ttl)
    return IssuedStreamToken(token, expires_at)
