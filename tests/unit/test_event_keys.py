"""The event-key rule shared by the gateway, the worker's registration and workflow code."""

from __future__ import annotations

import pytest

from signalway.event_keys import MAX_EVENT_KEY_LENGTH, RESERVED_KEYS, invalid_event_key
from signalway.triggers import invalid_event_key as reexported


@pytest.mark.parametrize(
    "key",
    ["order:1", "p:é", "p:\u0100", "p:\U0001f600", "a b", "a?b#c%2F", "...", "Stats", "stats-1",
     "x" * MAX_EVENT_KEY_LENGTH],
)
def test_ordinary_keys_are_valid(key: str) -> None:
    assert invalid_event_key(key) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_EVENT_KEY_LENGTH + 1), f"at most {MAX_EVENT_KEY_LENGTH}"),
        ("stats", "reserved"),
        ("purge", "reserved"),
        ("prefix", "reserved"),
        ("order/1", "'/'"),
        ("/", "'/'"),
        (".", "relative path segment"),
        ("..", "relative path segment"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x7f", "control characters"),
        ("a\x85", "control characters"),  # C1 (NEL)
        ("a\ud800", "unpaired surrogates"),
    ],
)
def test_keys_no_route_can_address_are_refused_with_a_reason(key: str, reason: str) -> None:
    refused = invalid_event_key(key)
    assert refused is not None and reason in refused


def test_reserved_words_are_the_routes_under_v1_events() -> None:
    assert RESERVED_KEYS == {"stats", "purge", "prefix"}
    assert reexported is invalid_event_key  # the store's module serves the same rule
