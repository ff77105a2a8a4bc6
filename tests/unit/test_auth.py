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
