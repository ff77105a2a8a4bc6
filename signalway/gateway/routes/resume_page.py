"""The resume URL as a page for people: what is asked, a form, a clear result.

A browser that opens a resume URL (it asks for `text/html`) gets a page instead of the JSON
preview, and submitting the page's form (an HTML form POST to the same URL) resumes the step
through the same exactly-once path as the JSON API. Everything here is rendering and form
parsing; the rules stay in `gateway.services.resume`.

- No JavaScript, no external asset, no cookie: the URL is the only credential, so there is
  no ambient authority for another site to ride on (see docs/security.md, "CSRF").
- Every value that came from workflow code (step and variable names, the prompt) or from a
  user (what they typed) goes through `_e` (`html.escape`, quotes included) — the one way
  text enters the markup.
- The style sheet is inline and allowed by its hash in the Content-Security-Policy, which
  forbids everything else (scripts, frames, other origins, form targets elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from string import Template
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse

from signalway.gateway.errors import Gone, NotFound, Problem, RateLimited, Unprocessable
from signalway.gateway.routes._negotiate import prefers_html
from signalway.gateway.routing import MAX_JSON_NUMBER_CHARS
from signalway.resume import ResumeStep

# Longest prompt shown: it is the workflow's text, but a page should stay a page.
_MAX_PROMPT_CHARS = 2000
# The one variable that gets approve/reject buttons (the "webhook and wait" convention).
_DECISION = "user_response"
_APPROVE, _REJECT = "approved", "rejected"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f3f5f8}
main{max-width:34rem;margin:0 auto;padding:1.25rem 1rem 2rem}
.card{background:#fff;border:1px solid #dde2ea;border-radius:.75rem;padding:1.25rem}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem}
p,li,dd,dt,label,legend{overflow-wrap:anywhere}
.prompt{font-size:1.1rem;white-space:pre-wrap;background:#f7f9fc;border-left:4px solid #3d6fd8;padding:.5rem .75rem;margin:0 0 1rem}
.meta{color:#5a6272;font-size:.9rem;margin:.25rem 0}
.field{margin:1rem 0}
label,legend{display:block;font-weight:600;margin-bottom:.35rem}
fieldset{border:0;padding:0;margin:1rem 0}
legend{padding:0}
.kind{font-weight:400;color:#5a6272;font-size:.85rem}
input[type=text],input[type=number],input[type=file],textarea{width:100%;font:inherit;padding:.6rem;border:1px solid #b9c1cf;border-radius:.5rem;background:#fff}
.choice{display:inline-flex;align-items:center;gap:.4rem;margin-right:1.25rem;font-weight:400}
.buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.25rem}
button{flex:1 1 8rem;font:inherit;font-weight:600;padding:.75rem 1rem;border:0;border-radius:.5rem;background:#3d6fd8;color:#fff;cursor:pointer}
button.reject{background:#b3261e}
details{margin-top:1.25rem}
summary{cursor:pointer;color:#3d6fd8}
.errors{background:#fdecea;border:1px solid #f1b5ae;border-radius:.5rem;padding:.5rem .75rem;color:#7a1a12}
.errors ul{margin:.25rem 0;padding-left:1.25rem}
.status{font-size:2.25rem;line-height:1;margin:0 0 .5rem}
.ok .status{color:#1e7a3c}.warn .status{color:#9a6700}.bad .status{color:#b3261e}
footer{color:#7a8292;font-size:.8rem;margin-top:1rem;text-align:center}
""".strip()

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<link rel="icon" href="data:,">
<title>$title</title>
<style>$css</style>
</head>
<body>
<main>
<div class="card $tone">
$body
</div>
<footer>Signalway</footer>
</main>
</body>
</html>
""")

_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
# Nothing but this page's own style and a form posting back to this URL; no script at all.
HEADERS = {
    "Content-Security-Policy": (f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    # The page shows what a capability holder may see; no cache or proxy keeps a copy.
    "Cache-Control": "no-store",
    # The token is in the URL: never hand it to another site in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _e(value: object) -> str:
    """The one way text enters the markup: HTML-escaped, quotes included (safe in attributes)."""
    return escape(str(value), quote=True)


def _page(title: str, body: str, *, status: int, tone: str = "",
          headers: Mapping[str, str] | None = None) -> HTMLResponse:
    html = _PAGE.substitute(title=_e(title), css=_CSS, body=body, tone=tone)
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


# -- content negotiation ---------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """Whether the caller prefers a page: `text/html` ranked above any JSON type.

    `*/*` (curl, httpx, the seed's clients) names neither and a tie goes to JSON, so existing
    clients see exactly what they saw before the page existed.
    """
    return prefers_html(request, default=False)


def is_form_post(request: Request) -> bool:
    """An HTML form submission: a form content type from a caller that asks for a page.

    Both are needed: `curl -d '{"variables": ...}'` sends JSON labelled as a form, and the
    JSON API has always accepted that.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in ("application/x-www-form-urlencoded", "multipart/form-data") and wants_html(request)


# -- the form --------------------------------------------------------------------------------


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return (f'<time datetime="{_e(moment.isoformat(timespec="seconds").replace("+00:00", "Z"))}">'
            f'{_e(moment.strftime("%d %b %Y, %H:%M UTC"))}</time>')


def _header(step: ResumeStep, title: str) -> str:
    parts = [f"<h1>{_e(title)}</h1>"]
    if step.prompt:
        prompt = step.prompt if len(step.prompt) <= _MAX_PROMPT_CHARS else step.prompt[:_MAX_PROMPT_CHARS] + "…"
        parts.append(f'<p class="prompt">{_e(prompt)}</p>')
    parts.append(f'<p class="meta">Step: <strong>{_e(step.step)}</strong></p>')
    return "\n".join(parts)


def _decision_only(step: ResumeStep) -> bool:
    return step.variables == {_DECISION: "string"}


def _field(name: str, kind: str, value: str | None) -> str:
    label = f'{_e(name)} <span class="kind">({_e(kind)})</span>'
    ident = "v-" + hashlib.sha256(name.encode()).hexdigest()[:12]  # ids are not the user's text
    if kind == "boolean":
        yes = " checked" if value == "yes" else ""
        no = " checked" if value == "no" else ""
        return (f'<fieldset class="field"><legend>{label}</legend>'
                f'<label class="choice"><input type="radio" name="{_e(name)}" value="yes" required{yes}> Yes</label>'
                f'<label class="choice"><input type="radio" name="{_e(name)}" value="no"{no}> No</label></fieldset>')
    if kind == "number":
        shown = f' value="{_e(value)}"' if value else ""
        return (f'<div class="field"><label for="{ident}">{label}</label>'
                f'<input type="number" step="any" id="{ident}" name="{_e(name)}" required{shown}></div>')
    if kind == "file":
        return (f'<div class="field"><label for="{ident}">{label}</label>'
                f'<input type="file" id="{ident}" name="{_e(name)}" required></div>')
    shown = f' value="{_e(value)}"' if value else ""
    return (f'<div class="field"><label for="{ident}">{label}</label>'
            f'<input type="text" id="{ident}" name="{_e(name)}" required autocomplete="off"{shown}></div>')


def _errors(problems: Sequence[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f'<div class="errors" role="alert"><strong>Please check your answer:</strong><ul>{items}</ul></div>'


def form_page(step: ResumeStep, *, problems: Sequence[str] = (), values: Mapping[str, str] | None = None,
              status: int = 200) -> HTMLResponse:
    """The question and a form for the step's variables (posting back to this same URL)."""
    values = values or {}
    parts = [_header(step, "Your answer is needed")]
    if step.deadline_ms is not None:
        parts.append(f'<p class="meta">Answer before {_when(step.deadline_ms)}.</p>')
    parts.append(_errors(problems))
    if _decision_only(step):
        # One string the workflow reads as a decision: two buttons, each submitting its value,
        # and a free-form answer folded away for anything else.
        parts.append(f'<form method="post"><div class="buttons">'
                     f'<button type="submit" name="{_DECISION}" value="{_APPROVE}">Approve</button>'
                     f'<button type="submit" class="reject" name="{_DECISION}" value="{_REJECT}">Reject</button>'
                     f"</div></form>")
        parts.append(f'<details><summary>Answer something else</summary><form method="post">'
                     f'{_field(_DECISION, "string", values.get(_DECISION))}'
                     f'<div class="buttons"><button type="submit">Send</button></div></form></details>')
    else:
        multipart = any(kind == "file" for kind in step.variables.values())
        enctype = ' enctype="multipart/form-data"' if multipart else ""
        fields = "".join(_field(name, kind, values.get(name)) for name, kind in step.variables.items())
        parts.append(f'<form method="post"{enctype}>{fields}'
                     f'<div class="buttons"><button type="submit">Send</button></div></form>')
    return _page("Your answer is needed", "\n".join(parts), status=status)


async def read_form(request: Request, step: ResumeStep, *, max_file_bytes: int
                    ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The submitted form as the step's typed variables; also what was typed (to show it again
    after a refusal) and what could not be read. Fields the step does not expect are ignored."""
    form: FormData = await request.form(max_files=max(len(step.variables), 1), max_fields=100)
    try:
        variables: dict[str, Any] = {}
        typed: dict[str, str] = {}
        problems: list[str] = []
        for name, kind in step.variables.items():
            raw = form.get(name)
            if isinstance(raw, UploadFile):
                if kind == "file" and raw.filename:
                    data = await raw.read(max_file_bytes + 1)
                    if len(data) > max_file_bytes:
                        problems.append(f"file {name!r} is larger than {max_file_bytes} bytes")
                        continue
                    content_type = raw.content_type if raw.content_type and "/" in raw.content_type \
                        else "application/octet-stream"
                    variables[name] = {"name": raw.filename[:255], "content_type": content_type,
                                       "data": base64.b64encode(data).decode()}
                continue
            if raw is None:
                continue
            typed[name] = raw
            value, problem = _typed(name, kind, raw)
            if problem:
                problems.append(problem)
            elif value is not None:
                variables[name] = value
        return variables, typed, problems
    finally:
        await form.close()


def _typed(name: str, kind: str, raw: str) -> tuple[Any, str | None]:
    """A form field's text as the variable's type; (None, None) for an empty optional input."""
    if kind == "string":
        return raw, None
    text = raw.strip()
    if not text:
        return None, None  # reported as missing by the service, like a JSON body without it
    if kind == "number":
        if len(text) > MAX_JSON_NUMBER_CHARS or not _NUMBER.match(text):
            return None, f"{name!r} must be a number"
        number = int(text) if _INTEGER.match(text) else float(text)
        if isinstance(number, float) and not math.isfinite(number):
            return None, f"{name!r} is out of range"
        return number, None
    if kind == "boolean":
        if text in ("yes", "no"):
            return text == "yes", None
        return None, f"{name!r} must be yes or no"
    return None, f"{name!r} must be a file upload"


# -- outcomes --------------------------------------------------------------------------------


def result_page(step: ResumeStep, *, already: bool) -> HTMLResponse:
    """After a submission: it was sent now, or the same answer had been sent before."""
    if already:
        text = "This answer had already been sent. Nothing was sent again."
    else:
        text = "Your answer was sent. You can close this page."
    body = f'<p class="status">✓</p>{_header(step, "Thank you")}<p>{_e(text)}</p>'
    return _page("Thank you", body, status=200, tone="ok")


def answered_page(step: ResumeStep) -> HTMLResponse:
    """The link was used: 200, as the step did what it was for."""
    when = f" on {_when(step.resumed_ms)}" if step.resumed_ms else ""
    body = (f'<p class="status">✓</p>{_header(step, "Already answered")}'
            f"<p>This request was answered{when}. It can be answered only once, so there is nothing left to do.</p>")
    return _page("Already answered", body, status=200, tone="ok")


def gone_page(step: ResumeStep) -> HTMLResponse:
    """Expired or revoked: 410, saying which."""
    if step.status == "revoked":
        title = "This link was withdrawn"
        text = "The request behind this link was withdrawn; it no longer waits for an answer."
    else:
        title = "This link has expired"
        when = f" on {_when(step.deadline_ms)}" if step.deadline_ms else ""
        text = f"The time to answer ended{when}; it no longer waits for an answer."  # _when escapes
    body = f'<p class="status">⌛</p>{_header(step, title)}<p>{text}</p>'
    return _page(title, body, status=410, tone="warn")


def step_page(step: ResumeStep) -> HTMLResponse:
    """What a GET shows for a known step, by its state."""
    if step.status == "waiting":
        return form_page(step)
    if step.status == "resumed":
        return answered_page(step)
    return gone_page(step)


_TITLES: dict[type[Problem], tuple[str, str]] = {
    NotFound: ("This link is not valid", "Check that the whole link was copied; it may have been cut short."),
    Gone: ("This link no longer works", ""),
    RateLimited: ("Too many attempts", "Please wait a minute, then try again."),
}


def problem_page(problem: Problem) -> HTMLResponse:
    """Any other refusal as a page with the problem's status (and Retry-After where it has one)."""
    title, text = next(((t, x) for cls, (t, x) in _TITLES.items() if isinstance(problem, cls)),
                       (problem.title, ""))
    if problem.status == 409:
        title = "Already answered"
        text = ("This link was already used with a different answer. It can be used only once, "
                "so your answer was not recorded.")
    elif problem.status == 504:
        title = "Your answer may not have arrived"
        text = "We could not confirm it in time. Open this link again: it says whether your answer was recorded."
    elif problem.status >= 500:
        title, text = "Please try again in a moment", "The service is busy or briefly unavailable; nothing was sent."
    headers = dict(problem.headers)
    if problem.retry_after_seconds is not None:
        headers["Retry-After"] = str(problem.retry_after_seconds)
    # The problem's own words where this page has none of its own (never a 5xx's internals).
    detail = f"<p>{_e(problem.detail)}</p>" if problem.detail and not text and problem.status < 500 else ""
    tone = "warn" if problem.status in (409, 410, 429) or problem.status >= 500 else "bad"
    body = f'<p class="status">!</p><h1>{_e(title)}</h1>{f"<p>{_e(text)}</p>" if text else ""}{detail}'
    return _page(title, body, status=problem.status, tone=tone, headers=headers)


def refused_page(step: ResumeStep, problem: Problem, typed: Mapping[str, str]) -> HTMLResponse:
    """A submission the service refused, `step` as it is now: the form again for bad
    variables, the step's own page when it no longer waits, else the problem."""
    if isinstance(problem, Unprocessable):
        messages = [str(e.get("msg")) for e in problem.errors or []] or [problem.detail or problem.title]
        return form_page(step, problems=messages, values=typed, status=422)
    if isinstance(problem, Gone) and step.status in ("expired", "revoked"):
        return gone_page(step)
    return problem_page(problem)
