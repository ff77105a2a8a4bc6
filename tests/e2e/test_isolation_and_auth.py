"""Projects never see each other; every kind of bad credential is refused."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt

from signalway.tokens import mint
from tests.helpers.gateway import API_KEY, API_KEY_PROJECT, Gateway, rs256_token
from tests.helpers.http import DURABLE, WORKFLOWS, assert_problem, create, execute, run_path
from tests.helpers.polling import eventually


async def test_another_projects_workflow_is_not_found(http: httpx.AsyncClient, gateway: Gateway) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "alpha's"})
    intruder = {"headers": gateway.headers(project="beta", user="mallory")}
    assert_problem(await http.get(f"{DURABLE}/{wf['id']}", **intruder), 404, "workflow_not_found")
    assert_problem(await http.get(f"{DURABLE}/{wf['id']}/events", **intruder), 404, "workflow_not_found")
    assert_problem(await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "approve",
                   "payload": {"approver": "mallory"}}, **intruder), 404, "workflow_not_found")
    assert_problem(await http.post(f"{DURABLE}/{wf['id']}/cancel", **intruder), 404, "workflow_not_found")
    assert (await http.get(f"{DURABLE}/{wf['id']}")).json()["status"] == "running"

    async def alpha_lists_it() -> bool:
        body = (await http.get(DURABLE, params={"limit": 200})).json()
        return any(w["id"] == wf["id"] for w in body["data"])

    await eventually(alpha_lists_it, what="alpha to list its workflow")
    beta = (await http.get(DURABLE, params={"limit": 200}, **intruder)).json()
    assert all(w["id"] != wf["id"] for w in beta["data"])


async def test_api_key_without_bearer_reaches_the_durable_surface(http: httpx.AsyncClient) -> None:
    keyed = {"headers": {"Authorization": API_KEY}}
    wf = await create(http, "ApprovalWorkflow", {"subject": "by key"}, **keyed)
    # The key's project is the JWT's project here, so both see the same workflow.
    assert API_KEY_PROJECT == "alpha"
    assert (await http.get(f"{DURABLE}/{wf['id']}")).status_code == 200
    bearer_key = {"headers": {"Authorization": f"Bearer {API_KEY}"}}
    assert (await http.get(f"{DURABLE}/{wf['id']}", **bearer_key)).status_code == 200
    assert_problem(await http.get(DURABLE, headers={"Authorization": "sk_test_wrong"}), 401, "unauthorized")


async def test_the_runs_api_says_api_keys_are_not_accepted_there(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    # Both forms a durable-API client sends its key in: bare, and as a Bearer credential.
    for authorization in (API_KEY, f"Bearer {API_KEY}"):
        for method, path in (("GET", run_path(wid, rid)), ("POST", f"{WORKFLOWS}/runs")):
            response = await http.request(method, path, headers={"Authorization": authorization},
                                          json={} if method == "POST" else None)
            detail = assert_problem(response, 401, "unauthorized")["detail"]
            assert "API keys are not accepted on the runs API" in detail, (authorization[:6], path, detail)
            assert "Bearer JWT" in detail
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_missing_credentials_are_401_with_challenge(http: httpx.AsyncClient) -> None:
    response = await http.get(DURABLE, headers={"Authorization": ""})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await http.get(DURABLE, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401, "unauthorized")


async def test_expired_token_is_401(http: httpx.AsyncClient, gateway: Gateway) -> None:
    # Past the gateway's clock-skew leeway (SIGNALWAY_JWT_LEEWAY_SECONDS, 30 s by default).
    expired = mint(gateway.secret, project="alpha", user="alice", ttl_seconds=-120)
    body = assert_problem(await http.get(DURABLE, headers={"Authorization": f"Bearer {expired}"}), 401, "unauthorized")
    assert "expired" in body["detail"]


async def test_wrong_signature_is_401(http: httpx.AsyncClient) -> None:
    forged = mint("not-the-secret-but-long-enough-to-sign-with", project="alpha", user="alice")
    assert_problem(await http.get(DURABLE, headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized")


async def test_alg_none_is_401(http: httpx.AsyncClient) -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": "alice", "project": "alpha", "exp": int(time.time()) + 600}
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_problem(await http.get(DURABLE, headers={"Authorization": f"Bearer {unsigned}"}), 401, "unauthorized")


async def test_token_without_project_is_401(http: httpx.AsyncClient, gateway: Gateway) -> None:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, gateway.secret, algorithm="HS256")
    assert_problem(await http.get(DURABLE, headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


async def test_rs256_token_is_accepted_and_forged_rs256_refused(http: httpx.AsyncClient, gateway: Gateway) -> None:
    token = rs256_token(gateway.rsa_private_pem)
    assert (await http.get(DURABLE, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # An HS256 token signed with the RSA *public* key (the classic confusion attack) is refused.
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_private_key(gateway.rsa_private_pem, None).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": "eve", "project": "alpha", "exp": int(time.time()) + 60}
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{b64(signature)}"
    assert_problem(await http.get(DURABLE, headers={"Authorization": f"Bearer {confused}"}), 401, "unauthorized")


async def test_project_recorded_as_search_attribute(http: httpx.AsyncClient, client) -> None:  # type: ignore[no-untyped-def]
    from signalway import search_attributes as sa

    wf = await create(http, "ApprovalWorkflow", {"subject": "attr"})
    desc = await client.get_workflow_handle(wf["id"]).describe()
    assert desc.typed_search_attributes.get(sa.PROJECT) == "alpha"
    assert desc.typed_search_attributes.get(sa.INITIATED_BY) == "user:alice"
    assert uuid.UUID(wf["id"])
