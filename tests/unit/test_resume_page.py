"""The resume page: escaped markup, a field per variable type, form parsing, content negotiation."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from signalway.gateway.errors import Conflict, Gone, NotFound, RateLimited, Unprocessable
from signalway.gateway.routes import resume_page
from signalway.resume import ResumeStep

NOW_MS = int(time.time() * 1000)
HOSTILE = '"><script>alert(1)</script><b x=\''
STEP = ResumeStep(hashed="h", workflow_id="wf-1", run_id="r-1", step="approval", project="alpha",
                  variables={"user_response": "string"}, deadline_ms=NOW_MS + 3_600_000, created_ms=NOW_MS,
                  status="waiting", prompt="Ship release 4.2?")


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _html(response: Any) -> str:
    body: bytes = response.body
    return body.decode()


def _request(headers: dict[str, str], body: bytes = b"") -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}, receive)


def test_hostile_names_prompt_and_values_are_text_never_markup() -> None:
    step = replace(STEP, variables={HOSTILE: "string", "n": "number"}, prompt=HOSTILE, step=HOSTILE)
    html = _html(resume_page.form_page(step, problems=[HOSTILE], values={HOSTILE: HOSTILE}))
    assert "<script>" not in html and "alert(1)</script>" not in html
    tags = _tags(html)
    assert {tag for tag, _ in tags} <= {"html", "head", "meta", "link", "title", "style", "body", "main", "div",
                                        "footer", "h1", "p", "strong", "time", "form", "label", "span", "input",
                                        "button", "ul", "li", "fieldset", "legend", "details", "summary"}
    # The hostile name survives as an attribute value, exactly, and opens no attribute of its own.
    inputs = [attrs for tag, attrs in tags if tag == "input"]
    assert any(attrs.get("name") == HOSTILE and attrs.get("value") == HOSTILE for attrs in inputs)
    assert all(set(attrs) <= {"type", "id", "name", "required", "autocomplete", "value", "step", "checked"}
               for attrs in inputs)


def test_each_variable_type_gets_its_field() -> None:
    step = replace(STEP, variables={"s": "string", "n": "number", "b": "boolean", "f": "file"})
    tags = _tags(_html(resume_page.form_page(step)))
    inputs = {(attrs["name"], attrs["type"]) for tag, attrs in tags if tag == "input"}
    assert inputs == {("s", "text"), ("n", "number"), ("b", "radio"), ("f", "file")}
    radios = [attrs["value"] for tag, attrs in tags if tag == "input" and attrs["type"] == "radio"]
    assert radios == ["yes", "no"]
    [form] = [attrs for tag, attrs in tags if tag == "form"]
    assert form == {"method": "post", "enctype": "multipart/form-data"}  # no action: back to this URL


def test_a_single_user_response_gets_approve_and_reject_buttons() -> None:
    tags = _tags(_html(resume_page.form_page(STEP)))
    buttons = [(attrs.get("name"), attrs.get("value")) for tag, attrs in tags if tag == "button"]
    assert ("user_response", "approved") in buttons and ("user_response", "rejected") in buttons
    assert [attrs["name"] for tag, attrs in tags if tag == "input"] == ["user_response"]  # "something else"
    other = replace(STEP, variables={"user_response": "string", "note": "string"})
    assert not any(attrs.get("value") == "approved" for tag, attrs in _tags(_html(resume_page.form_page(other))))


def test_pages_forbid_scripts_frames_and_referrers_and_allow_only_their_own_style() -> None:
    response = resume_page.form_page(STEP)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    [style] = re.findall(r"<style>(.*?)</style>", _html(response), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"
    assert "<script" not in _html(response) and "set-cookie" not in response.headers


def test_each_state_and_refusal_has_its_page_and_status() -> None:
    assert resume_page.step_page(STEP).status_code == 200
    answered = resume_page.step_page(replace(STEP, status="resumed", resumed_ms=NOW_MS))
    assert answered.status_code == 200 and "Already answered" in _html(answered)
    expired = resume_page.step_page(replace(STEP, status="expired"))
    assert expired.status_code == 410 and "expired" in _html(expired)
    revoked = resume_page.step_page(replace(STEP, status="revoked"))
    assert revoked.status_code == 410 and "withdrawn" in _html(revoked)
    assert resume_page.problem_page(NotFound("unknown")).status_code == 404
    limited = resume_page.problem_page(RateLimited("slow down", retry_after_seconds=7))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    refused = resume_page.refused_page(STEP, Unprocessable("bad", errors=[{"msg": "missing variable 'x'"}]), {})
    assert refused.status_code == 422 and "missing variable" in _html(refused)
    assert resume_page.refused_page(STEP, Conflict("used"), {}).status_code == 409
    gone = resume_page.refused_page(replace(STEP, status="revoked"), Gone("revoked"), {})
    assert gone.status_code == 410 and "withdrawn" in _html(gone)


def test_browsers_get_pages_and_every_json_client_keeps_json() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
    assert resume_page.wants_html(_request({"accept": browser}))
    for accept in ("", "*/*", "application/json", "application/json, text/html", "text/html;q=0.5, application/json",
                   "text/html;q=0"):
        assert not resume_page.wants_html(_request({"accept": accept})), accept
    form = "application/x-www-form-urlencoded"
    assert resume_page.is_form_post(_request({"accept": browser, "content-type": form}))
    # `curl -d '{"variables": ...}'` labels JSON as a form: still the JSON API.
    assert not resume_page.is_form_post(_request({"accept": "*/*", "content-type": form}))
    assert not resume_page.is_form_post(_request({"accept": browser, "content-type": "application/json"}))


async def test_a_form_becomes_typed_variables() -> None:
    step = replace(STEP, variables={"s": "string", "n": "number", "x": "number", "b": "boolean"})
    body = urlencode({"s": " keep spaces ", "n": "42", "x": "-1.5e3", "b": "no", "ignored": "1"}).encode()
    request = _request({"content-type": "application/x-www-form-urlencoded"}, body)
    variables, typed, problems = await resume_page.read_form(request, step, max_file_bytes=10)
    assert variables == {"s": " keep spaces ", "n": 42, "x": -1500.0, "b": False} and problems == []
    assert typed["n"] == "42"


async def test_bad_form_values_are_named() -> None:
    step = replace(STEP, variables={"n": "number", "b": "boolean", "big": "number", "empty": "number"})
    body = urlencode({"n": "12abc", "b": "maybe", "big": "1e999", "empty": " "}).encode()
    request = _request({"content-type": "application/x-www-form-urlencoded"}, body)
    variables, _, problems = await resume_page.read_form(request, step, max_file_bytes=10)
    assert variables == {}  # `empty` is left out: the service reports it missing
    assert problems == ["'n' must be a number", "'b' must be yes or no", "'big' is out of range"]


async def test_an_upload_becomes_the_resume_file_shape() -> None:
    step = replace(STEP, variables={"doc": "file", "big": "file"})
    boundary = "XyZ"
    parts = [("doc", "report.pdf", "application/pdf", b"%PDF-1.7"), ("big", "huge.bin", "", b"x" * 11)]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
        + (f"Content-Type: {content_type}\r\n".encode() if content_type else b"") + b"\r\n" + data + b"\r\n"
        for name, filename, content_type, data in parts
    ) + f"--{boundary}--\r\n".encode()
    request = _request({"content-type": f"multipart/form-data; boundary={boundary}"}, body)
    variables, _, problems = await resume_page.read_form(request, step, max_file_bytes=10)
    assert variables == {"doc": {"name": "report.pdf", "content_type": "application/pdf",
                                 "data": base64.b64encode(b"%PDF-1.7").decode()}}
    assert problems == ["file 'big' is larger than 10 bytes"]
