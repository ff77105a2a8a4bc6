import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signalway.gateway.auth import Authenticator
from signalway.gateway.errors import Unauthorized
from signalway.gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN, mint
from tests.helpers.identity import hmac_token, unsigned_token

SECRET = "s" * 40


def authenticator(**overrides: object) -> Authenticator:
    return Authenticator(GatewaySettings(jwt_secret=SECRET, api_keys={"key-1": "proj"}, **overrides))  # type: ignore[arg-type]


def test_valid_token_gives_user_project_and_permissions() -> None:
    token = mint(SECRET, project="p", user="u", permissions=[SUPERADMIN])
    who = authenticator().authenticate(f"Bearer {token}", allow_api_key=False)
    assert (who.user, who.project, who.is_superadmin, who.initiated_by) == ("u", "p", True, "user:u")


def test_api_key_only_where_allowed() -> None:
    auth = authenticator()
    assert auth.authenticate("key-1", allow_api_key=True).project == "proj"
    assert auth.authenticate("Bearer key-1", allow_api_key=True).project == "proj"
    with pytest.raises(Unauthorized):
        auth.authenticate("key-1", allow_api_key=False)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u", "project": "p"},  # no exp
        {"sub": "u", "exp": int(time.time()) + 60},  # no project
        {"sub": "", "project": "p", "exp": int(time.time()) + 60},
        {"sub": "u", "project": "p", "exp": int(time.time()) + 60, "permissions": {"admin": True}},
    ],
)
def test_tokens_missing_required_claims_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        authenticator().authenticate(f"Bearer {jwt.encode(claims, SECRET)}", allow_api_key=False)


def test_audience_and_issuer_are_enforced_when_configured() -> None:
    auth = authenticator(jwt_audience="signalway", jwt_issuer="https://idp")
    good = mint(SECRET, project="p", user="u", audience="signalway", issuer="https://idp")
    assert auth.authenticate(f"Bearer {good}", allow_api_key=False).user == "u"
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {mint(SECRET, project='p', user='u', audience='other', issuer='https://idp')}",
                          allow_api_key=False)


def test_settings_refuse_short_secret_and_no_credentials() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        GatewaySettings(jwt_secret="short")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SIGNALWAY_JWT_SECRET"):
        GatewaySettings()


def _token(**claims: object) -> str:
    """A token signed with the right secret whose claims are whatever the test says."""
    body: dict[str, object] = {"sub": "u", "project": "p", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, SECRET)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", str(int(time.time()) + 3600)),  # a numeric string: PyJWT's int() would take it
        ("exp", True),
        ("exp", float("inf")),  # PyJWT's encoder writes Infinity, its parser reads it back
        ("exp", float("nan")),
        ("exp", [int(time.time()) + 3600]),
        ("iat", str(int(time.time()))),
        ("iat", False),
        ("nbf", "0"),
        ("nbf", None),
        ("sub", 42),
        ("sub", ["u"]),
        ("project", ""),
        ("project", {"id": "p"}),
        ("permissions", {"workflow_superadmin": True}),
        ("permissions", [SUPERADMIN, 1]),
        ("permissions", 0),
    ],
)
def test_claims_of_the_wrong_type_are_refused_by_name(claim: str, value: object) -> None:
    with pytest.raises(Unauthorized, match=f"`{claim}`"):
        authenticator().authenticate(f"Bearer {_token(**{claim: value})}", allow_api_key=False)


def test_numeric_times_may_be_floats() -> None:
    now = time.time()
    who = authenticator().authenticate(f"Bearer {_token(exp=now + 60.5, iat=now - 1.5, nbf=now - 1.5)}",
                                       allow_api_key=False)
    assert who.user == "u"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 31}, "expired"),  # past the default 30 s leeway
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"iat": int(time.time()) + 3600}, "not yet valid"),
    ],
)
def test_times_are_still_enforced(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        authenticator().authenticate(f"Bearer {_token(**claims)}", allow_api_key=False)


def test_a_wrong_signature_is_refused_before_claim_types_are_looked_at() -> None:
    forged = jwt.encode({"sub": "u", "project": "p", "exp": "9999999999"}, "x" * 40)
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        authenticator().authenticate(f"Bearer {forged}", allow_api_key=False)


@pytest.mark.parametrize(
    ("offsets", "leeway", "accepted"),
    [
        ({"exp": -10}, 30, True),  # a clock a little ahead of the issuer's
        ({"exp": -10}, 0, False),
        ({"nbf": 10}, 30, True),  # a clock a little behind
        ({"nbf": 10}, 5, False),
        ({"iat": 10}, 30, True),
        ({"exp": -60}, 30, False),
    ],
)
def test_times_allow_the_configured_leeway(offsets: dict[str, int], leeway: int, accepted: bool) -> None:
    auth = authenticator(jwt_leeway_seconds=leeway)
    claims = {name: int(time.time()) + offset for name, offset in offsets.items()}
    if accepted:
        assert auth.authenticate(f"Bearer {_token(**claims)}", allow_api_key=False).user == "u"
    else:
        with pytest.raises(Unauthorized, match="expired|not yet valid"):
            auth.authenticate(f"Bearer {_token(**claims)}", allow_api_key=False)


def test_permissions_may_be_a_space_separated_string() -> None:
    who = authenticator().authenticate(f"Bearer {_token(permissions=f'openid {SUPERADMIN}')}", allow_api_key=False)
    assert who.permissions == {"openid", SUPERADMIN} and who.is_superadmin


def test_claims_are_read_where_the_settings_say() -> None:
    auth = authenticator(jwt_project_claim="https://signalway.example.com/project",
                         jwt_user_claim="preferred_username", jwt_permissions_claim="realm_access.roles")
    token = jwt.encode({"https://signalway.example.com/project": "acme", "preferred_username": "ana", "sub": "f3a1",
                        "realm_access": {"roles": [SUPERADMIN]}, "exp": int(time.time()) + 60}, SECRET)
    who = auth.authenticate(f"Bearer {token}", allow_api_key=False)
    assert (who.project, who.user, who.is_superadmin) == ("acme", "ana", True)


def test_a_missing_mapped_project_claim_is_named() -> None:
    auth = authenticator(jwt_project_claim="org.id")
    token = jwt.encode({"sub": "u", "project": "p", "org": {"name": "acme"}, "exp": int(time.time()) + 60}, SECRET)
    with pytest.raises(Unauthorized, match=r"no `org\.id` claim \(the project\)"):
        auth.authenticate(f"Bearer {token}", allow_api_key=False)


def test_hmac_never_meets_a_public_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = hmac_token(pem, {"sub": "u", "project": "p", "exp": int(time.time()) + 60})
    only_public = Authenticator(GatewaySettings(jwt_public_key=pem.decode()))
    with pytest.raises(Unauthorized, match="'HS256' is not accepted"):
        only_public.authenticate(f"Bearer {forged}", allow_api_key=False)
    both = Authenticator(GatewaySettings(jwt_public_key=pem.decode(), jwt_secret=SECRET))  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="Signature verification failed"):
        both.authenticate(f"Bearer {forged}", allow_api_key=False)
    with pytest.raises(Unauthorized, match="'none' is not accepted"):
        both.authenticate(f"Bearer {unsigned_token({'sub': 'u', 'project': 'p', 'exp': int(time.time()) + 60})}",
                          allow_api_key=False)


def test_settings_check_the_new_auth_settings() -> None:
    assert GatewaySettings(jwt_jwks_url="https://idp.example/.well-known/jwks.json").jwt_jwks_url
    for url in ("ftp://idp.example/jwks", "https://user:pw@idp.example/jwks", "https:///jwks"):
        with pytest.raises(ValueError, match="jwt_jwks_url"):
            GatewaySettings(jwt_jwks_url=url)
    with pytest.raises(ValueError, match="must differ"):
        GatewaySettings(jwt_secret=SECRET, stream_token_secret=SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        GatewaySettings(jwt_secret=SECRET, stream_token_secret="short")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="16 parts"):
        GatewaySettings(jwt_secret=SECRET, jwt_project_claim="a" + ".a" * 16)  # type: ignore[arg-type]


@pytest.mark.parametrize("header", [{"alg": ["RS256"]}, {"alg": {"x": 1}}, {"alg": "RS256", "kid": ["k"]},
                                    {"alg": None}, {"alg": "ES256", "kid": {"k": 1}}])
def test_header_values_of_any_json_type_are_a_401(header: dict[str, object]) -> None:
    forged = unsigned_token({"sub": "u", "project": "p", "exp": int(time.time()) + 60}, **header)
    with pytest.raises(Unauthorized):
        authenticator().authenticate(f"Bearer {forged}", allow_api_key=False)


@pytest.mark.parametrize("header", [{"alg": ["RS256"]}, {"alg": "RS256", "kid": ["k"]}, {"alg": "HS256", "kid": "k"},
                                    {"alg": "none", "kid": "k"}])
async def test_only_an_asymmetric_token_with_an_unknown_kid_makes_the_gateway_fetch(
        header: dict[str, object]) -> None:
    auth = Authenticator(GatewaySettings(jwt_jwks_url="https://idp.example/.well-known/jwks.json"))
    assert auth.jwks is not None
    await auth.prepare(unsigned_token({"sub": "u"}, **header))
    assert auth.jwks.fetches == 0
