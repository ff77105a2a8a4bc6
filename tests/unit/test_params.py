"""`gateway.routes._params`: the `Prefer` header (RFC 7240) of the signal routes."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from signalway.gateway.routes._params import preference_applied, return_preference


def request(*prefer: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                    "headers": [(b"prefer", value.encode()) for value in prefer]})


@pytest.mark.parametrize(("header", "wanted"), [
    ("return=representation", "representation"),
    ("return=minimal", "minimal"),
    ("Return=Representation", "representation"),
    ('respond-async, wait=5, return="representation"', "representation"),
    ("return=representation; foo=bar", "representation"),
    ("handling=lenient,return=minimal", "minimal"),
    ("return=minimal, return=representation", "minimal"),  # the first one counts
    ("return=everything", None),
    ("respond-async", None),
    ("", None),
])
def test_the_return_preference_is_read_as_rfc_7240_says(header: str, wanted: str | None) -> None:
    assert return_preference(request(header)) == wanted


def test_no_prefer_header_is_no_preference_and_no_preference_applied() -> None:
    assert return_preference(request()) is None
    assert preference_applied(None) is None
    assert preference_applied("representation") == {"Preference-Applied": "return=representation"}
