"""The resume URL as a page: a person answers in a real browser (Debian's Chromium), and each
state of a link has its page and status. JSON clients of the same URL see no change.

Screenshots are kept under each test's tmp dir (their paths are printed; `pytest -s` shows them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page

from tests.helpers.browser import PHONE
from tests.helpers.gateway import Gateway
from tests.helpers.http import run_path, wait_run
from tests.helpers.receiver import resume_url

PUBLIC = "/public/send-user-signal/"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FORM = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}


async def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


async def _fits_a_phone(page: Page) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll at {PHONE['width']} px: {width}"


async def _phone_page(browser: Browser) -> tuple[Page, list[str], list[str]]:
    """A phone-sized page, the URLs it requested and the console errors (CSP violations among them)."""
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, requested, errors


async def test_a_person_approves_in_the_browser_and_the_link_then_says_it_was_used(
        http: httpx.AsyncClient, gateway: Gateway, browser: Browser, tmp_path: Path) -> None:
    subject = 'Ship <b>4.2</b> & the "fix"?'
    wid, rid, url = await resume_url(http, subject=subject)
    page, requested, errors = await _phone_page(browser)

    opened = await page.goto(url)
    assert opened is not None and opened.status == 200
    assert await page.inner_text("h1") == "Your answer is needed"
    assert await page.inner_text(".prompt") == subject  # the workflow's words as text, never markup
    assert "Answer before" in await page.inner_text("main")
    await _fits_a_phone(page)
    await _screenshot(page, tmp_path, "1-form")

    async with page.expect_navigation() as navigation:
        await page.click("button:has-text('Approve')")
    sent = await navigation.value
    assert sent is not None and sent.status == 200 and sent.request.method == "POST"
    assert await page.inner_text("h1") == "Thank you"
    await _fits_a_phone(page)
    await _screenshot(page, tmp_path, "2-sent")

    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["approved"] is True and run["result"]["user_response"] == "approved"
    [audit] = run["resumes"]
    assert "Chrome" in audit["user_agent"] and audit["client_ip"] == "127.0.0.1"

    again = await page.goto(url)
    assert again is not None and again.status == 200
    assert await page.inner_text("h1") == "Already answered"
    await _fits_a_phone(page)
    await _screenshot(page, tmp_path, "3-already-answered")
    assert errors == []  # among them, any Content-Security-Policy violation

    unknown = await page.goto(gateway.url + PUBLIC + "A" * 43)
    assert unknown is not None and unknown.status == 404
    assert await page.inner_text("h1") == "This link is not valid"
    await _fits_a_phone(page)
    await _screenshot(page, tmp_path, "4-unknown")

    assert all(u.startswith(gateway.url + "/") for u in requested), requested  # nothing from elsewhere
    await page.context.close()


async def test_a_free_form_answer_goes_through_the_folded_form(
        http: httpx.AsyncClient, gateway: Gateway, browser: Browser, tmp_path: Path) -> None:
    wid, rid, url = await resume_url(http, subject="Which release?")
    page, _, errors = await _phone_page(browser)
    await page.goto(url)
    await page.click("summary")
    await page.fill("input[name=user_response]", "not before <Friday>")
    await _screenshot(page, tmp_path, "free-form")
    async with page.expect_navigation():
        await page.click("details button[type=submit]")
    assert await page.inner_text("h1") == "Thank you"
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"] == {**run["result"], "approved": False, "user_response": "not before <Friday>"}
    assert errors == []
    await page.context.close()


async def _get(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        return await anonymous.get(url, **kwargs)


async def _post(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        return await anonymous.post(url, **kwargs)


def _html(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store" and response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers and "<script" not in response.text
    return response.text


async def test_expired_and_revoked_links_are_410_pages_and_bad_answers_come_back_as_the_form(
        http: httpx.AsyncClient) -> None:
    wid, rid, url = await resume_url(http, timeout_secs=60)
    refused = _html(await _post(url, content=b"unexpected=1", headers=FORM), 422)
    assert "missing variable &#x27;user_response&#x27;" in refused and "<form" in refused
    assert (await http.post(f"{run_path(wid, rid)}/resume-urls/approval/revoke")).status_code == 200
    assert "withdrawn" in _html(await _get(url, headers=BROWSER), 410)
    assert "withdrawn" in _html(await _post(url, content=b"user_response=approved", headers=FORM), 410)

    wid, rid, url = await resume_url(http, timeout_secs=2)
    await wait_run(http, wid, rid, "COMPLETED")  # the step timed out
    assert "expired" in _html(await _get(url, headers=BROWSER), 410)
    assert "expired" in _html(await _post(url, content=b"user_response=approved", headers=FORM), 410)


async def test_json_clients_of_the_same_url_see_no_change(http: httpx.AsyncClient) -> None:
    wid, rid, url = await resume_url(http)
    for accept in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}, {"Accept": "application/json, text/html"}):
        preview = await _get(url, headers=accept)
        assert preview.headers["content-type"] == "application/json" and preview.json()["state"] == "waiting"
    unknown = await _get(url[:-43] + "A" * 43)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    # `curl -d '{...}'`: JSON labelled as a form, from a client that does not ask for a page.
    body = json.dumps({"variables": {"user_response": "yes"}}).encode()
    answer = await _post(url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    assert answer.json() == {"status": "success", "message": f"Signal sent to workflow execution {wid}"}
    assert (await wait_run(http, wid, rid, "COMPLETED"))["result"]["user_response"] == "yes"
    # The same answer again from the page: said once, sent once.
    again = _html(await _post(url, content=b"user_response=yes", headers=FORM), 200)
    assert "already been sent" in again
    other = _html(await _post(url, content=b"user_response=no", headers=FORM), 409)
    assert "only once" in other
