"""Run-scoped stream tokens: what they carry, where they are accepted, which keys sign them."""

import time

import jwt
import pytest

from signalway.gateway import stream_tokens
from signalway.gateway.auth import Authenticator, Principal
from signalway.gateway.errors import Unauthorized
from signalway.gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN, mint

SECRET = "s" * 40
RUN = ("order-42", "0f8e2c1a-5b8d-4a55-9d4e-3f6a1b2c3d4e")


def authenticator(**settings: object) -> Authenticator:
    return Authenticator(GatewaySettings(**{"jwt_secret": SECRET, **settings}))  # type: ignore[arg-type]


def issued(auth: Authenticator, ttl: float = 600, **who: object) -> tuple[str, int]:
    principal = Principal(**{"user": "ana", "project": "acme", "permissions": frozenset({SUPERADMIN}),
                             "expires_at": time.time() + 3600, **who})  # type: ignore[arg-type]
    return auth.issue_stream_token(principal, *RUN, ttl_seconds=ttl)


def test_a_stream_token_carries_its_principal_and_run() -> None:
    auth = authenticator()
    token, expires_at = issued(auth)
    who = auth.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)
    assert (who.user, who.project, who.is_superadmin, who.run_scope) == ("ana", "acme", True, RUN)
    assert abs(expires_at - (time.time() + 600)) < 2
    assert jwt.get_unverified_header(token)["typ"] == stream_tokens.TYP


def test_a_stream_token_is_refused_where_it_is_not_asked_for() -> None:
    auth = authenticator()
    token, _ = issued(auth)
    for _ in range(2):  # verified, then from the cache of verified tokens: refused both times
        with pytest.raises(Unauthorized, match="stream token"):
            auth.authenticate(f"Bearer {token}", allow_api_key=True)


def test_an_ordinary_token_is_not_a_stream_token() -> None:
    auth = authenticator()
    who = auth.authenticate(f"Bearer {mint(SECRET, project='acme', user='ana')}", allow_api_key=False,
                            allow_stream_token=True)
    assert who.run_scope is None


def test_neither_kind_of_token_passes_as_the_other() -> None:
    auth = authenticator()
    now = int(time.time())
    # Stream-shaped claims and header, signed with the JWT secret: not the stream key.
    forged = jwt.encode({"iss": stream_tokens.ISSUER, "aud": stream_tokens.AUDIENCE, "sub": "ana", "project": "acme",
                         "wid": RUN[0], "rid": RUN[1], "iat": now, "exp": now + 60}, SECRET,
                        headers={"typ": stream_tokens.TYP})
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        auth.authenticate(f"Bearer {forged}", allow_api_key=False, allow_stream_token=True)
    # The same claims without the header go to the ordinary verifier, which expects no audience.
    relabelled = jwt.encode({"aud": stream_tokens.AUDIENCE, "sub": "ana", "project": "acme", "exp": now + 60}, SECRET)
    with pytest.raises(Unauthorized, match="audience"):
        auth.authenticate(f"Bearer {relabelled}", allow_api_key=False, allow_stream_token=True)


def test_a_stream_token_never_outlives_the_callers_token() -> None:
    auth = authenticator()
    parent_expiry = time.time() + 90
    _, expires_at = issued(auth, ttl=3600, expires_at=parent_expiry)
    assert expires_at == int(parent_expiry)


def test_an_expired_stream_token_is_refused() -> None:
    auth = authenticator(jwt_leeway_seconds=0)
    token, _ = issued(auth, ttl=-1)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)


def test_replicas_share_the_key_derived_from_the_jwt_secret_or_a_configured_one() -> None:
    token, _ = issued(authenticator())
    assert authenticator().authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)
    configured = {"stream_token_secret": "t" * 40}
    shared, _ = issued(authenticator(**configured))
    assert authenticator(**configured).authenticate(f"Bearer {shared}", allow_api_key=False, allow_stream_token=True)
    for other in (authenticator(), authenticator(stream_token_secret="u" * 40)):
        with pytest.raises(Unauthorized, match="Signature verification failed"):
            other.authenticate(f"Bearer {shared}", allow_api_key=False, allow_stream_token=True)


def test_without_any_shared_secret_the_key_is_per_process() -> None:
    def keyed_by_the_identity_provider() -> Authenticator:
        # Nothing is fetched before start(): the stream key is all this test uses.
        return Authenticator(GatewaySettings(jwt_jwks_url="https://idp.example/.well-known/jwks.json"))

    first = keyed_by_the_identity_provider()
    assert first.stream_tokens.key_source == "random"
    token, _ = issued(first)
    assert first.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True).run_scope == RUN
    with pytest.raises(Unauthorized):
        keyed_by_the_identity_provider().authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)


def test_a_stream_token_expires_exactly_whatever_the_identity_providers_leeway() -> None:
    # The gateway signs these itself: no clock skew to allow for, and docs/auth.md promises a
    # 401 once `expires_at` has passed.
    auth = authenticator(jwt_leeway_seconds=30)
    token, _ = issued(auth, ttl=-1)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)


def test_a_verified_stream_token_is_not_kept_past_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = authenticator(jwt_leeway_seconds=30)
    token, expires_at = issued(auth, ttl=5)
    auth.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)  # verified and cached
    later = expires_at + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(f"Bearer {token}", allow_api_key=False, allow_stream_token=True)
