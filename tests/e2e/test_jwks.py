"""Signing in with an identity provider's keys (JWKS), against gateway processes of this module's own.

The provider is the test's: keys generated here, their JWKS served on loopback by
`tests.helpers.identity.JwksServer`, which counts every fetch. Two gateways read it, each
configured like a common provider:

    auth0     namespaced project claim `https://signalway.example.com/project`, `permissions` list
    keycloak  nested project claim `org.id`, user `preferred_username`, permissions in `scope`
              (space-separated), leeway 5 s

Both keep the HS256 secret and the static RS256 key beside the key set, and fetch the key set
at most once per MIN_REFRESH seconds.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import SUPERADMIN
from tests.helpers.gateway import gateway_env
from tests.helpers.http import WORKFLOWS, assert_problem, execute, run_path, wait_ready
from tests.helpers.identity import (
    JwksServer,
    SigningKey,
    claims,
    ec_key,
    ed25519_key,
    hmac_token,
    rsa_key,
    unsigned_token,
)
from tests.helpers.stack import Stack

MIN_REFRESH = 2.0
AUTH0_ISSUER, AUTH0_AUDIENCE = "https://signalway-test.eu.auth0.com/", "https://api.signalway.example.com"
AUTH0_PROJECT = "https://signalway.example.com/project"
KEYCLOAK_ISSUER, KEYCLOAK_AUDIENCE = "https://sso.example.com/realms/acme", "signalway"


@dataclass(frozen=True)
class Provider:
    server: JwksServer
    keys: dict[str, SigningKey]  # by kid


@dataclass(frozen=True)
class OwnGateway:
    url: str
    secret: str


@dataclass(frozen=True)
class Gateways:
    auth0: OwnGateway
    keycloak: OwnGateway


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    keys = {k.kid: k for k in (rsa_key("rs-1"), rsa_key("ps-1", "PS256"), ec_key("es-1"), ed25519_key("ed-1"))}
    server = JwksServer(max_age=300)
    # An `oct` key in the set: published for all to read, so never a verification key.
    server.publish(*keys.values(), {"kty": "oct", "kid": "sym-1", "alg": "HS256", "k": "c3ltbWV0cmljLXNlY3JldA"})
    with server.serving():
        yield Provider(server, keys)


@pytest.fixture(scope="module")
def static_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def gateways(stack: Stack, provider: Provider, static_key: rsa.RSAPrivateKey,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    log_dir = tmp_path_factory.mktemp("jwks-gateways")
    public_pem = static_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    common = {"SIGNALWAY_JWT_JWKS_URL": provider.server.url,
              "SIGNALWAY_JWT_JWKS_MIN_REFRESH_SECONDS": str(MIN_REFRESH)}
    settings = {
        "auth0": {"SIGNALWAY_JWT_ISSUER": AUTH0_ISSUER, "SIGNALWAY_JWT_AUDIENCE": AUTH0_AUDIENCE,
                  "SIGNALWAY_JWT_PROJECT_CLAIM": AUTH0_PROJECT},
        "keycloak": {"SIGNALWAY_JWT_ISSUER": KEYCLOAK_ISSUER, "SIGNALWAY_JWT_AUDIENCE": KEYCLOAK_AUDIENCE,
                     "SIGNALWAY_JWT_PROJECT_CLAIM": "org.id", "SIGNALWAY_JWT_USER_CLAIM": "preferred_username",
                     "SIGNALWAY_JWT_PERMISSIONS_CLAIM": "scope", "SIGNALWAY_JWT_LEEWAY_SECONDS": "5"},
    }
    started: dict[str, tuple[OwnGateway, ManagedProcess]] = {}
    try:
        for name, extra in settings.items():  # all start at once; then each is waited for
            port, secret = free_port(), secrets.token_urlsafe(32)
            process = ManagedProcess(f"{name}-gateway", [sys.executable, "-m", "signalway", "gateway"],
                                     env=gateway_env(stack, port, secret, public_pem, **common, **extra),
                                     log_path=log_dir / f"{name}.log")
            started[name] = (OwnGateway(f"http://127.0.0.1:{port}", secret), process)
        for own, process in started.values():
            wait_ready(own.url, process)
        yield Gateways(**{name: own for name, (own, _) in started.items()})
    finally:
        for _, process in started.values():
            process.stop()


def auth0_claims(project: str = "acme", user: str = "auth0|ana", **extra: Any) -> dict[str, Any]:
    return claims(**{"iss": AUTH0_ISSUER, "aud": AUTH0_AUDIENCE, "sub": user, AUTH0_PROJECT: project, **extra})


def keycloak_claims(project: str = "acme", user: str = "ana", scope: str = "openid profile",
                    **extra: Any) -> dict[str, Any]:
    return claims(**{"iss": KEYCLOAK_ISSUER, "aud": KEYCLOAK_AUDIENCE, "sub": str(uuid.uuid4()),
                     "preferred_username": user, "org": {"id": project, "name": project.title()}, "scope": scope,
                     **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def list_runs(own: OwnGateway, token: str) -> httpx.Response:
    """A call that needs a valid token and nothing else: the caller's (empty or not) run list."""
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        return await http.post(f"{WORKFLOWS}/runs", json={"page_size": 1}, headers=bearer(token))


async def refused(own: OwnGateway, token: str, reason: str) -> None:
    body = assert_problem(await list_runs(own, token), 401, "unauthorized")
    assert reason in body["detail"], body["detail"]


async def past_the_refresh_interval(provider: Provider) -> None:
    """Until the gateways may fetch again: the last fetch (either gateway's) is MIN_REFRESH old."""
    if provider.server.fetched_at:
        await asyncio.sleep(max(0.0, provider.server.fetched_at[-1] + MIN_REFRESH + 0.2 - time.monotonic()))


async def test_every_published_key_type_verifies_its_tokens(gateways: Gateways, provider: Provider) -> None:
    for kid in ("rs-1", "ps-1", "es-1", "ed-1"):
        response = await list_runs(gateways.auth0, provider.keys[kid].sign(auth0_claims()))
        assert response.status_code == 200, f"{kid}: {response.text}"


async def test_the_hs256_secret_and_the_static_key_work_beside_the_key_set(
        gateways: Gateways, static_key: rsa.RSAPrivateKey) -> None:
    own = gateways.auth0
    assert (await list_runs(own, jwt.encode(auth0_claims(), own.secret, algorithm="HS256"))).status_code == 200
    assert (await list_runs(own, jwt.encode(auth0_claims(), static_key, algorithm="RS256"))).status_code == 200


async def test_a_rotated_key_is_accepted_without_a_restart(gateways: Gateways, provider: Provider,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    own = gateways.auth0

    async def accepted_after(key: SigningKey) -> float:
        """Seconds from the key's publication to the first request it signs being accepted."""
        published = provider.server.publish(*provider.keys.values(), key)
        token = key.sign(auth0_claims())
        while (await list_runs(own, token)).status_code != 200:
            assert time.monotonic() - published < MIN_REFRESH + 5, f"{key.kid} still refused"
            await asyncio.sleep(0.05)
        provider.keys[key.kid] = key
        return time.monotonic() - published

    # A new kid appears while the gateway may fetch: its first token makes it fetch.
    await past_the_refresh_interval(provider)
    fresh = await accepted_after(rsa_key("rs-2"))
    # A new kid appears just after a fetch: refused until the rate limit lets the next fetch through.
    right_after = await accepted_after(ec_key("es-2"))
    with capsys.disabled():
        print(f"\nJWKS rotation: accepted {fresh * 1000:.0f} ms after publication (fetch allowed), "
              f"{right_after * 1000:.0f} ms when published just after a fetch (min refresh {MIN_REFRESH:g} s)")
    assert fresh < 1.0
    assert right_after < MIN_REFRESH + 1.0


async def test_a_flood_of_unknown_kids_costs_at_most_a_couple_of_fetches(
        gateways: Gateways, provider: Provider) -> None:
    await past_the_refresh_interval(provider)
    before = provider.server.fetches
    # ES256: no static key could verify them either, so every answer is about the kid.
    signer = provider.keys["es-1"]
    tokens = [SigningKey(f"random-{uuid.uuid4()}", "ES256", signer.private, {}).sign(auth0_claims())
              for _ in range(100)]
    async with httpx.AsyncClient(base_url=gateways.auth0.url, timeout=30) as http:
        limit = asyncio.Semaphore(20)

        async def call(token: str) -> httpx.Response:
            async with limit:
                return await http.post(f"{WORKFLOWS}/runs", json={"page_size": 1}, headers=bearer(token))

        answers = await asyncio.gather(*(call(token) for token in tokens))
    for answer in answers:
        body = assert_problem(answer, 401, "unauthorized")
        assert "`kid`" in body["detail"], body["detail"]
    assert provider.server.fetches - before <= 2, provider.server.fetches - before


async def test_a_wrong_issuer_or_audience_is_refused(gateways: Gateways, provider: Provider) -> None:
    key = provider.keys["rs-1"]
    await refused(gateways.auth0, key.sign(auth0_claims(iss="https://evil.example/")), "Invalid issuer")
    await refused(gateways.auth0, key.sign(auth0_claims(aud="https://another-api.example")), "Audience doesn't match")
    without_audience = {k: v for k, v in auth0_claims().items() if k != "aud"}
    await refused(gateways.auth0, key.sign(without_audience), "aud")
    # Each gateway takes only its own provider's tokens, signed by the same keys or not.
    await refused(gateways.keycloak, key.sign(auth0_claims()), "Invalid issuer")


async def test_algorithm_confusion_is_refused(gateways: Gateways, provider: Provider,
                                              static_key: rsa.RSAPrivateKey) -> None:
    own, keys, body = gateways.auth0, provider.keys, auth0_claims()
    rsa_public = keys["rs-1"].private.public_key()
    for public in (rsa_public, static_key.public_key()):
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        # HS256 "signed" with the public key as the HMAC secret: met only by the HS256 secret.
        await refused(own, hmac_token(pem, body, kid="rs-1"), "Signature verification failed")
        await refused(own, hmac_token(pem, body), "Signature verification failed")
    await refused(own, unsigned_token(body, kid="rs-1"), "'none' is not accepted")
    await refused(own, unsigned_token(body), "'none' is not accepted")
    # A key published for one algorithm verifies that one only.
    await refused(own, keys["ps-1"].sign(body, alg="RS256"), "does not match its key's (PS256)")
    await refused(own, keys["rs-1"].sign(body, alg="PS256"), "does not match its key's (RS256)")
    # The published `oct` key is not a key here, whatever the token says.
    await refused(own, hmac_token(b"symmetric-secret", body, kid="sym-1"), "Signature verification failed")


@pytest.mark.parametrize(
    ("which", "times", "accepted"),
    [
        ("auth0", {"exp": -10}, True),  # within the default 30 s leeway
        ("auth0", {"exp": -60}, False),
        ("auth0", {"nbf": 10}, True),
        ("auth0", {"nbf": 60}, False),
        ("keycloak", {"exp": -3}, True),  # within its 5 s leeway
        ("keycloak", {"exp": -10}, False),
    ],
)
async def test_expiry_is_checked_with_the_leeway(gateways: Gateways, provider: Provider, which: str,
                                                 times: dict[str, int], accepted: bool) -> None:
    now = int(time.time())
    shifted = {name: now + offset for name, offset in times.items()}
    body = auth0_claims(**shifted) if which == "auth0" else keycloak_claims(**shifted)
    response = await list_runs(getattr(gateways, which), provider.keys["es-1"].sign(body))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        detail = assert_problem(response, 401, "unauthorized")["detail"]
        assert "expired" in detail or "not yet valid" in detail, detail


async def _sees(own: OwnGateway, token: str, run: tuple[str, str]) -> int:
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        return (await http.get(run_path(*run), headers=bearer(token))).status_code


async def test_an_auth0_namespaced_project_claim_decides_the_project(gateways: Gateways,
                                                                     provider: Provider) -> None:
    own, key = gateways.auth0, provider.keys["rs-1"]
    project = f"acme-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        run = await execute(http, "ConversationWorkflow", {}, visibility="private",
                            headers=bearer(key.sign(auth0_claims(project, "auth0|ana"))))
    assert await _sees(own, key.sign(auth0_claims(project, "auth0|ana")), run) == 200
    assert await _sees(own, key.sign(auth0_claims(project, "auth0|bob")), run) == 404  # private to ana
    assert await _sees(own, key.sign(auth0_claims(project, "auth0|root", permissions=[SUPERADMIN])), run) == 200
    assert await _sees(own, key.sign(auth0_claims("other", "auth0|ana")), run) == 404
    plain = {k: v for k, v in auth0_claims().items() if k != AUTH0_PROJECT} | {"project": project}
    await refused(own, key.sign(plain), f"no `{AUTH0_PROJECT}` claim (the project)")


async def test_keycloak_nested_claims_and_space_separated_permissions(gateways: Gateways,
                                                                      provider: Provider) -> None:
    own, key = gateways.keycloak, provider.keys["ed-1"]
    project = f"acme-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        run = await execute(http, "ConversationWorkflow", {}, visibility="private",
                            headers=bearer(key.sign(keycloak_claims(project, "ana"))))
    # `sub` differs on every token here: the user is `preferred_username`.
    assert await _sees(own, key.sign(keycloak_claims(project, "ana")), run) == 200
    assert await _sees(own, key.sign(keycloak_claims(project, "bob")), run) == 404
    superadmin = keycloak_claims(project, "root", scope=f"openid {SUPERADMIN} profile")
    assert await _sees(own, key.sign(superadmin), run) == 200
    assert await _sees(own, key.sign(keycloak_claims("other", "ana")), run) == 404
    no_org = {k: v for k, v in keycloak_claims().items() if k != "org"}
    await refused(own, key.sign(no_org), "no `org.id` claim (the project)")
    await refused(own, key.sign(keycloak_claims(scope=["not", 1])), "`scope` (the permissions)")


async def test_a_withdrawn_key_is_refused_after_the_next_refresh(gateways: Gateways, provider: Provider) -> None:
    own, server = gateways.auth0, provider.server
    token = provider.keys["rs-1"].sign(auth0_claims())
    assert (await list_runs(own, token)).status_code == 200  # and now in the gateway's verified cache
    server.max_age = 1  # the next fetch says: refresh soon (the gateway's floor, MIN_REFRESH, applies)
    await past_the_refresh_interval(provider)
    await list_runs(own, provider.keys["es-1"].sign(auth0_claims(), kid="unknown-now"))  # a fetch now
    withdrawn = server.publish(*(k for kid, k in provider.keys.items() if kid != "rs-1"))
    while (await list_runs(own, token)).status_code != 401:
        assert time.monotonic() - withdrawn < MIN_REFRESH + 5, "rs-1 still accepted"
        await asyncio.sleep(0.1)
    assert (await list_runs(own, provider.keys["es-1"].sign(auth0_claims()))).status_code == 200
