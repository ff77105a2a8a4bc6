"""Who may reach a run, proven for every operation the gateway serves.

The operations come from the app's own route table: a route missing from `ACCESS` below
fails the test, so no new route can skip the access layer. Each operation is called by
five principals on a run of each visibility:

    principal      project run                  private run (started by the owner)
    owner          allowed                      allowed
    other user     allowed                      404, exactly like a missing run
    other project  404                          404
    API key        allowed (401 where keys      404
                   are not accepted)
    superadmin     allowed                      allowed

Denied callers go first, and the private run must not change under them (no signal, no
update, no cancel, no resolved trigger, no revoked step); then the allowed callers.
"""

from __future__ import annotations

import enum
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from signalway.gateway.app import create_app
from signalway.gateway.routing import ApiRoute
from signalway.gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN
from tests.helpers.gateway import API_KEY, Gateway
from tests.helpers.http import DURABLE, WORKFLOWS, execute, run_path
from tests.helpers.polling import eventually


class Access(enum.Enum):
    RUN = "bound to one run: its visibility decides"
    PREFIX = "fans out over triggers: only the ones the caller may see"
    PROJECT = "project-level: every principal of the project, in its own project"
    PUBLIC = "no credentials: a capability in the URL, or the system routes"


@dataclass(frozen=True)
class Principal:
    name: str
    headers: dict[str, str]
    project: str
    sees_private: bool
    api_key: bool = False


@dataclass
class Runs:
    """The runs of one visibility, all started by the owner."""

    visibility: str
    conversation: tuple[str, str]
    order: tuple[str, str]
    order_id: str
    approval: tuple[str, str]


Call = tuple[str, str, dict[str, Any]]
Builder = Callable[[Runs, Principal, httpx.AsyncClient], Awaitable[Call]]


def _fixed(method: str, path: Callable[[Runs], str], **kwargs: Any) -> Builder:
    async def build(runs: Runs, who: Principal, http: httpx.AsyncClient) -> Call:
        return method, path(runs), dict(kwargs)
    return build


def _conv(runs: Runs) -> str:
    return run_path(*runs.conversation)


def _approval(runs: Runs) -> str:
    return run_path(*runs.approval)


def _paid(runs: Runs) -> str:
    return f"order:{runs.order_id}:paid"


async def _held_early_event(runs: Runs, who: Principal, http: httpx.AsyncClient) -> Call:
    key = f"order:early-{uuid.uuid4()}"
    held = await http.post(f"/v1/events/{key}/send", json={"n": 1}, headers=who.headers)
    assert held.status_code == 202, held.text
    return "DELETE", f"/v1/early-events/{key}", {}


# In the order they run: what ends a run or settles a wait comes last.
ACCESS: dict[str, tuple[Access, Builder]] = {
    "healthz": (Access.PUBLIC, _fixed("GET", lambda r: "/healthz")),
    "readyz": (Access.PUBLIC, _fixed("GET", lambda r: "/readyz")),
    "metrics": (Access.PUBLIC, _fixed("GET", lambda r: "/metrics")),
    "openapi": (Access.PUBLIC, _fixed("GET", lambda r: "/openapi.json")),
    "docs": (Access.PUBLIC, _fixed("GET", lambda r: "/docs")),
    "docsAsset": (Access.PUBLIC, _fixed("GET", lambda r: "/docs/assets/swagger-ui.css")),
    "index": (Access.PUBLIC, _fixed("GET", lambda r: "/")),
    "previewUserSignal": (Access.PUBLIC, _fixed("GET", lambda r: "/public/send-user-signal/" + "A" * 43)),
    "sendUserSignal": (Access.PUBLIC, _fixed("POST", lambda r: "/public/send-user-signal/" + "A" * 43,
                                             json={"variables": {}})),
    "createDurableWorkflow": (Access.PROJECT, _fixed("POST", lambda r: DURABLE,
                                                     json={"workflow_type": "ConversationWorkflow", "input": {}})),
    "listDurableWorkflows": (Access.PROJECT, _fixed("GET", lambda r: DURABLE)),
    "executeWorkflow": (Access.PROJECT, _fixed("POST", lambda r: f"{WORKFLOWS}/execute/ConversationWorkflow",
                                               json={"vars": {}})),
    "listRuns": (Access.PROJECT, _fixed("POST", lambda r: f"{WORKFLOWS}/runs", json={})),
    "listConversations": (Access.PROJECT, _fixed("POST", lambda r: f"{WORKFLOWS}/conversations", json={})),
    "listEventTriggers": (Access.PROJECT, _fixed("GET", lambda r: "/v1/events")),
    "registerJobTrigger": (Access.PROJECT, lambda r, w, h: _job_trigger()),
    "eventTriggerStats": (Access.PROJECT, _fixed("GET", lambda r: "/v1/events/stats")),
    "purgeEventTriggers": (Access.PROJECT, _fixed("POST", lambda r: "/v1/events/purge",
                                                  json={"older_than_days": 3650, "dry_run": True})),
    "listEarlyEvents": (Access.PROJECT, _fixed("GET", lambda r: "/v1/early-events")),
    "dropEarlyEvent": (Access.PROJECT, _held_early_event),
    "getDurableWorkflow": (Access.RUN, _fixed("GET", lambda r: f"{DURABLE}/{r.conversation[0]}")),
    "listDurableWorkflowEvents": (Access.RUN, _fixed("GET", lambda r: f"{DURABLE}/{r.conversation[0]}/events")),
    "getRunDetails": (Access.RUN, _fixed("GET", _conv)),
    "queryRun": (Access.RUN, _fixed("GET", lambda r: _conv(r) + "/query/get_turns")),
    "getRunUpdates": (Access.RUN, _fixed("GET", lambda r: _conv(r) + "/updates")),
    "streamRunUpdates": (Access.RUN, _fixed("GET", lambda r: _conv(r) + "/stream")),
    "createStreamToken": (Access.RUN, _fixed("POST", lambda r: _conv(r) + "/stream-token")),
    "getRunWaits": (Access.RUN, _fixed("GET", lambda r: run_path(*r.order) + "/waits")),
    "listResumeSteps": (Access.RUN, _fixed("GET", lambda r: _approval(r) + "/resume-urls")),
    "getEventTrigger": (Access.RUN, _fixed("GET", lambda r: f"/v1/events/{_paid(r)}")),
    "streamEventTrigger": (Access.RUN, _fixed("GET", lambda r: f"/v1/events/{_paid(r)}/stream")),
    "sendEventByPrefix": (Access.PREFIX, _fixed("POST", lambda r: f"/v1/events/prefix/order:{r.order_id}:/send",
                                                params={"dry_run": "true"}, json={})),
    "postRunUpdate": (Access.RUN, _fixed("POST", lambda r: f"{WORKFLOWS}/runs/{r.conversation[1]}/updates",
                                         json={"message": "progress"})),
    "sendDurableSignal": (Access.RUN, _fixed("POST", lambda r: f"{DURABLE}/{r.conversation[0]}/signal",
                                             json={"signal_type": "UserInput", "payload": {"message": "hi"}})),
    "signalRun": (Access.RUN, _fixed("POST", lambda r: _conv(r) + "/signal/UserInput", json={"message": "hey"})),
    "updateRun": (Access.RUN, _fixed("POST", lambda r: _conv(r) + "/update/no_such_update", json={})),
    "extendResumeStep": (Access.RUN, _fixed("POST", lambda r: _approval(r) + "/resume-urls/approval/extend",
                                            json={"seconds": 60})),
    "revokeResumeStep": (Access.RUN, _fixed("POST", lambda r: _approval(r) + "/resume-urls/approval/revoke")),
    "sendEvent": (Access.RUN, _fixed("POST", lambda r: f"/v1/events/{_paid(r)}/send", json={"paid": True})),
    "cancelEventTrigger": (Access.RUN, lambda r, w, h: _shipped_trigger(r, h)),
    "cancelDurableWorkflow": (Access.RUN, _fixed("POST", lambda r: f"{DURABLE}/{r.conversation[0]}/cancel")),
    "cancelRun": (Access.RUN, _fixed("POST", lambda r: _conv(r) + "/actions/cancel")),
    "terminateRun": (Access.RUN, _fixed("POST", lambda r: _conv(r) + "/actions/terminate")),
}


async def _shipped_trigger(runs: Runs, http: httpx.AsyncClient) -> Call:
    """The order's second wait, registered once the first was resolved (by `sendEvent`)."""
    path = f"/v1/events/order:{runs.order_id}:shipped"
    owner = {"Authorization": f"Bearer {_OWNER_TOKEN[0]}"}

    async def registered() -> bool:
        return (await http.get(path, headers=owner)).status_code == 200

    await eventually(registered, what="the shipped trigger")
    return "DELETE", path, {}


async def _job_trigger() -> Call:
    return "POST", "/v1/events", {"json": {"event_key": f"job:{uuid.uuid4()}", "job_run_id": "j-1"}}


def _operations() -> dict[str, ApiRoute]:
    app = create_app(GatewaySettings(jwt_secret=secrets.token_urlsafe(32)))
    return {r.operation.operation_id: r for r in app.routes if isinstance(r, ApiRoute)}


OPERATIONS = _operations()
_OWNER_TOKEN: list[str] = []


def test_every_operation_has_an_access_rule() -> None:
    assert set(OPERATIONS) == set(ACCESS), (
        f"routes without an access rule: {sorted(set(OPERATIONS) - set(ACCESS))}; "
        f"rules for no route: {sorted(set(ACCESS) - set(OPERATIONS))}"
    )


@pytest.fixture(scope="module")
def principals(gateway: Gateway) -> dict[str, Principal]:
    def bearer(project: str, user: str, *permissions: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {gateway.token(project, user, permissions)}"}

    _OWNER_TOKEN[:] = [gateway.token("alpha", "owner-m")]
    return {
        "owner": Principal("owner", {"Authorization": f"Bearer {_OWNER_TOKEN[0]}"}, "alpha", sees_private=True),
        "other user": Principal("other user", bearer("alpha", "bob-m"), "alpha", sees_private=False),
        "other project": Principal("other project", bearer("beta", "mallory-m"), "beta", sees_private=False),
        "API key": Principal("API key", {"Authorization": API_KEY}, "alpha", sees_private=False, api_key=True),
        "superadmin": Principal("superadmin", bearer("alpha", "root-m", SUPERADMIN), "alpha", sees_private=True),
    }


@pytest.fixture(scope="module")
async def runs(gateway: Gateway, principals: dict[str, Principal]) -> dict[str, Runs]:
    owner = principals["owner"].headers
    found: dict[str, Runs] = {}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for visibility in ("project", "private"):
            order_id = f"m-{uuid.uuid4()}"
            found[visibility] = Runs(
                visibility=visibility,
                conversation=await execute(http, "ConversationWorkflow", {}, visibility=visibility, headers=owner),
                order=await execute(http, "OrderFulfillmentWorkflow", {"order_id": order_id, "timeout_secs": 600},
                                    visibility=visibility, headers=owner),
                order_id=order_id,
                approval=await execute(http, "ApprovalWorkflow",
                                       {"subject": "matrix", "webhook_url": "http://127.0.0.1:9/hook"},
                                       visibility=visibility, headers=owner),
            )
        for r in found.values():  # the waits exist once the worker ran the first steps
            async def waiting(r: Runs = r) -> bool:
                trigger = await http.get(f"/v1/events/{_paid(r)}", headers=owner)
                steps = await http.get(_approval(r) + "/resume-urls", headers=owner)
                return trigger.status_code == 200 and steps.status_code == 200 and bool(steps.json()["data"])
            await eventually(waiting, what=f"the {r.visibility} runs' trigger and resume step")
    return found


async def _state(http: httpx.AsyncClient, runs: Runs, owner: Principal) -> dict[str, Any]:
    """What a denied caller must not change, read as the owner."""
    details = (await http.get(_conv(runs), headers=owner.headers)).json()
    signals = [e for e in details["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    updates = (await http.get(_conv(runs) + "/updates", headers=owner.headers)).json()["messages"]
    triggers = {step: (await http.get(f"/v1/events/order:{runs.order_id}:{step}", headers=owner.headers))
                .json().get("status") for step in ("paid", "shipped")}
    steps = (await http.get(_approval(runs) + "/resume-urls", headers=owner.headers)).json()["data"]
    return {"status": details["status"], "signals": len(signals), "updates": len(updates), "triggers": triggers,
            "steps": [(s["step"], s["state"], s["deadline"]) for s in steps]}


async def _call(http: httpx.AsyncClient, call: Call, headers: dict[str, str] | None) -> httpx.Response:
    method, path, kwargs = call
    if path.endswith("/stream"):  # read the status line only; the stream itself stays open
        async with http.stream(method, path, headers=headers, **kwargs) as response:
            await response.aclose()
            return response
    return await http.request(method, path, headers=headers, **kwargs)


def _accepts_api_keys(route: ApiRoute) -> bool:
    return "apiKey" in route.operation.schemes


def _denied(access: Access, who: Principal, runs: Runs) -> bool:
    if access is not Access.RUN:
        return False
    return who.project != "alpha" or (runs.visibility == "private" and not who.sees_private)


def _assert_not_found(response: httpx.Response, context: str) -> None:
    assert response.status_code == 404, f"{context}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), context


@pytest.mark.parametrize("operation_id", list(ACCESS))
async def test_operation_enforces_run_access(operation_id: str, gateway: Gateway,
                                             principals: dict[str, Principal], runs: dict[str, Runs]) -> None:
    access, build = ACCESS[operation_id]
    route = OPERATIONS[operation_id]
    owner = principals["owner"]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        if access is Access.PUBLIC:
            response = await _call(http, await build(runs["project"], owner, http), None)
            assert response.status_code not in (401, 403), response.text
            assert response.status_code < 500, response.text
            return
        for visibility in ("private", "project"):
            target = runs[visibility]
            ordered = sorted(principals.values(), key=lambda p: not _denied(access, p, target))
            await build(target, owner, http)  # lets a builder wait for what it needs first
            before = await _state(http, target, owner)
            checked_state = False
            for who in ordered:
                context = f"{operation_id} by {who.name} on a {visibility} run"
                denied = _denied(access, who, target) and not (who.api_key and not _accepts_api_keys(route))
                if not denied and not checked_state:
                    # Everyone denied has been: the run is exactly as it was.
                    assert await _state(http, target, owner) == before, f"{operation_id} changed a {visibility} run"
                    checked_state = True
                response = await _call(http, await build(target, who, http), who.headers)
                if who.api_key and not _accepts_api_keys(route):
                    assert response.status_code == 401, f"{context}: {response.status_code} {response.text}"
                    continue
                if denied:
                    _assert_not_found(response, context)
                    continue
                assert response.status_code not in (401, 403, 404), f"{context}: {response.status_code} {response.text}"
                assert response.status_code < 500, f"{context}: {response.status_code} {response.text}"
                if access is Access.PREFIX:
                    seen = {t["event_key"] for t in response.json()["triggers"]}
                    may_see = who.project == "alpha" and (visibility == "project" or who.sees_private)
                    assert (_paid(target) in seen) == may_see, f"{context}: {sorted(seen)}"


async def test_lists_show_a_private_run_only_to_its_owner_and_superadmins(
        gateway: Gateway, principals: dict[str, Principal], runs: dict[str, Runs]) -> None:
    private = runs["private"]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        async def listed(who: Principal) -> set[str]:
            found: set[str] = set()
            if not who.api_key:
                for path in (f"{WORKFLOWS}/runs", f"{WORKFLOWS}/conversations"):
                    body = (await http.post(path, json={"page_size": 1000}, headers=who.headers)).json()
                    found |= {r["run_id"] for r in body["runs"]}
            events = (await http.get("/v1/events", params={"limit": 500}, headers=who.headers)).json()
            found |= {t["workflow_run_id"] for t in events["data"] if t["workflow_run_id"]}
            return found

        for who in principals.values():
            if who.sees_private:
                await eventually(lambda who=who: _contains(listed(who), private), what=f"{who.name} lists them")
        for who in principals.values():
            if not who.sees_private:
                seen = await listed(who)
                assert private.conversation[1] not in seen and private.order[1] not in seen, who.name


async def _contains(listing: Awaitable[set[str]], runs: Runs) -> bool:
    seen = await listing
    return runs.conversation[1] in seen and runs.order[1] in seen


# -- Idempotency-Key: a key belongs to the caller who sent it ---------------------------------------

# Every operation that takes an Idempotency-Key, with what it needs: the run it acts on is a
# fresh private run of the owner's (None: it starts a run itself), and the request.
KeyedCall = Callable[[tuple[str, str], str], tuple[str, str, dict[str, Any]]]
KEYED: dict[str, tuple[str | None, dict[str, Any], KeyedCall]] = {
    "executeWorkflow": (None, {}, lambda run, order: (
        "POST", f"{WORKFLOWS}/execute/ConversationWorkflow", {"json": {"vars": {}, "visibility": "private"}})),
    "createDurableWorkflow": (None, {}, lambda run, order: (
        "POST", DURABLE, {"json": {"workflow_type": "ConversationWorkflow", "input": {}}})),
    "signalRun": ("ConversationWorkflow", {}, lambda run, order: (
        "POST", run_path(*run) + "/signal/UserInput", {"json": {"message": "keyed"}})),
    "sendDurableSignal": ("ConversationWorkflow", {}, lambda run, order: (
        "POST", f"{DURABLE}/{run[0]}/signal", {"json": {"signal_type": "UserInput", "payload": {"message": "k"}}})),
    "updateRun": ("ApprovalWorkflow", {"subject": "keyed", "timeout_secs": 600}, lambda run, order: (
        "POST", run_path(*run) + "/update/extend_deadline", {"json": {"seconds": 60}})),
    "postRunUpdate": ("ConversationWorkflow", {}, lambda run, order: (
        "POST", f"{WORKFLOWS}/runs/{run[1]}/updates", {"json": {"message": "keyed progress"}})),
    "sendEvent": ("OrderFulfillmentWorkflow", {"timeout_secs": 600}, lambda run, order: (
        "POST", f"/v1/events/order:{order}:paid/send", {"json": {"paid": True}})),
    "cancelRun": ("ConversationWorkflow", {}, lambda run, order: ("POST", run_path(*run) + "/actions/cancel", {})),
    "terminateRun": ("ConversationWorkflow", {}, lambda run, order: (
        "POST", run_path(*run) + "/actions/terminate", {})),
    "cancelDurableWorkflow": ("ConversationWorkflow", {}, lambda run, order: (
        "POST", f"{DURABLE}/{run[0]}/cancel", {})),
}


def test_every_keyed_operation_is_in_the_key_matrix() -> None:
    keyed = {name for name, route in OPERATIONS.items()
             if any(p.name == "Idempotency-Key" for p in route.operation.params)}
    assert keyed == set(KEYED), sorted(keyed ^ set(KEYED))


def _started_ids(body: Any) -> set[str]:
    """The workflow and run ids a start answered with (either surface's shape)."""
    items = body if isinstance(body, list) else [body]
    return {str(v) for item in items for k, v in item.items() if k in ("workflow_id", "run_id", "id") and v}


@pytest.mark.parametrize("operation_id", list(KEYED))
async def test_an_idempotency_key_belongs_to_its_caller(operation_id: str, gateway: Gateway,
                                                        principals: dict[str, Principal]) -> None:
    """Same caller: the first answer again. Another caller of the project, or of another
    project, replaying the key: a fresh request of their own (404 on the owner's private
    run, a run of their own for a start), and the owner's run stays the owner's."""
    workflow_type, vars, build = KEYED[operation_id]
    owner, others = principals["owner"], [principals["other user"], principals["other project"]]
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        run, order = ("", ""), f"k-{uuid.uuid4()}"
        if workflow_type is not None:
            if workflow_type == "OrderFulfillmentWorkflow":
                vars = {**vars, "order_id": order}
            run = await execute(http, workflow_type, vars, visibility="private", headers=owner.headers)
            if workflow_type == "OrderFulfillmentWorkflow":
                await eventually(lambda: _status_is(http, f"/v1/events/order:{order}:paid", owner, 200),
                                 what="the paid trigger")
        method, path, kwargs = build(run, order)
        first = await http.request(method, path, headers={**owner.headers, **key}, **kwargs)
        assert first.status_code < 300, first.text
        again = await http.request(method, path, headers={**owner.headers, **key}, **kwargs)
        assert _same_answer(operation_id, first, again), again.text
        mine = _started_ids(first.json()) if workflow_type is None else set()
        for who in others:
            replay = await http.request(method, path, headers={**who.headers, **key}, **kwargs)
            context = f"{operation_id} replayed by {who.name}: {replay.status_code} {replay.text}"
            if workflow_type is None:
                # A start of their own: none of the owner's ids.
                assert replay.status_code < 300, context
                assert not (_started_ids(replay.json()) & mine), context
            else:
                _assert_not_found(replay, context)  # the 404 of a run they may not see, nothing stored
        # The owner's answer and run are still the owner's: the replays recorded no other starter.
        last = await http.request(method, path, headers={**owner.headers, **key}, **kwargs)
        assert _same_answer(operation_id, first, last), last.text
        if operation_id == "createDurableWorkflow":
            wid = first.json()["id"]
            assert (await http.get(f"{DURABLE}/{wid}", headers=owner.headers)).status_code == 200
            await http.post(f"{DURABLE}/{wid}/cancel", headers=owner.headers)
        elif workflow_type is None:
            [started] = first.json()
            wid, rid = started["workflow_id"], started["run_id"]
            assert (await http.get(run_path(wid, rid), headers=owner.headers)).status_code == 200
            if operation_id == "executeWorkflow":  # a private run: nobody else may post into it
                for who in others:
                    posted = await http.post(f"{WORKFLOWS}/runs/{rid}/updates", json={"message": "x"},
                                             headers=who.headers)
                    _assert_not_found(posted, f"{who.name} posting into the owner's run")
            await http.post(run_path(wid, rid) + "/actions/terminate", headers=owner.headers)
        elif operation_id not in ("cancelRun", "terminateRun", "cancelDurableWorkflow"):
            await http.post(run_path(*run) + "/actions/terminate", headers=owner.headers)


def _same_answer(operation_id: str, first: httpx.Response, again: httpx.Response) -> bool:
    """A replay's answer is the first one's: the durable surface re-reads the workflow (its status
    may have moved on, and a replayed create is 200 rather than 201), so there the id decides."""
    if again.status_code >= 300:
        return False
    if operation_id in ("createDurableWorkflow", "cancelDurableWorkflow"):
        return bool(again.json()["id"] == first.json()["id"])
    return bool(again.status_code == first.status_code and again.json() == first.json())


async def _status_is(http: httpx.AsyncClient, path: str, who: Principal, status: int) -> bool:
    return (await http.get(path, headers=who.headers)).status_code == status
