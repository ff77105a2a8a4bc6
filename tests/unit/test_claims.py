"""Where the user, project and permissions are found in a token's claims."""

from typing import Any

import pytest

from signalway.gateway.claims import claim_at, permissions_of

AUTH0 = {"sub": "auth0|42", "https://signalway.example.com/project": "acme",
         "https://signalway.example.com/org": {"id": "org-7"}}
KEYCLOAK = {"sub": "f3a1", "preferred_username": "ana", "org": {"id": "acme", "name": {"en": "Acme"}},
            "realm_access": {"roles": ["workflow_superadmin"]}}


@pytest.mark.parametrize(
    ("claims", "path", "expected"),
    [
        ({"project": "p"}, "project", "p"),
        (KEYCLOAK, "org.id", "acme"),
        (KEYCLOAK, "org.name.en", "Acme"),
        (KEYCLOAK, "realm_access.roles", ["workflow_superadmin"]),
        (AUTH0, "https://signalway.example.com/project", "acme"),  # dots in the name: the whole name first
        (AUTH0, "https://signalway.example.com/org.id", "org-7"),  # a namespaced claim, walked into
        ({"a.b": "flat", "a": {"b": "nested"}}, "a.b", "flat"),  # the whole name wins
        ({"a": {"b.c": "x"}}, "a.b.c", "x"),  # the longest name at each level
        ({"a": {"b": {"c": "deep"}, "b.c": None}}, "a.b.c", "deep"),  # null at one split: the next is tried
    ],
)
def test_a_claim_is_found_by_name_or_dotted_path(claims: dict[str, Any], path: str, expected: Any) -> None:
    assert claim_at(claims, path) == expected


@pytest.mark.parametrize("path", ["missing", "org.missing", "org.id.deeper", "sub.x", "realm_access.roles.0", "."])
def test_a_missing_claim_is_none(path: str) -> None:
    assert claim_at(KEYCLOAK, path) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, frozenset()),
        ([], frozenset()),
        (["a", "b"], frozenset({"a", "b"})),
        ("openid profile workflow_superadmin", frozenset({"openid", "profile", "workflow_superadmin"})),
        ("  spaced\tout  ", frozenset({"spaced", "out"})),
        ("", frozenset()),
    ],
)
def test_permissions_are_a_list_or_a_space_separated_string(value: Any, expected: frozenset[str]) -> None:
    assert permissions_of(value) == expected


@pytest.mark.parametrize("value", [0, True, {"a": True}, ["a", 1], [["a"]]])
def test_other_permission_values_are_refused(value: Any) -> None:
    assert permissions_of(value) is None
