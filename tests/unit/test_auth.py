import time

import jwt
import pytest

from gateway.auth import Authenticator
from gateway.errors import Unauthorized
from gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN, mint

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
        {"sub": "u", "project": "p", "exp": int(time.time()) + 60, "permissions": "admin"},
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
        ("permissions", "workflow_superadmin"),
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
        ({"exp": int(time.time()) - 1}, "expired"),
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
