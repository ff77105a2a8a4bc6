"""The caller's list filter is re-rendered from a parse tree and never reaches scope attributes."""

from __future__ import annotations

import pytest

from signalway.gateway.list_query import InvalidQuery, parse


@pytest.mark.parametrize(
    ("query", "rendered"),
    [
        ("WorkflowType = 'A'", "(WorkflowType = 'A')"),
        ('WorkflowType="A"', "(WorkflowType = 'A')"),
        ("WorkflowType = 'A' or WorkflowType = 'B'", "(WorkflowType = 'A' OR WorkflowType = 'B')"),
        ("(WorkflowType = 'A' OR WorkflowType = 'B') AND HistoryLength > 3",
         "((WorkflowType = 'A' OR WorkflowType = 'B') AND HistoryLength > 3)"),
        ("ExecutionStatus in ('Running', 'Completed')", "(ExecutionStatus IN ('Running', 'Completed'))"),
        ("StartTime between '2026-01-01T00:00:00Z' and '2027-01-01T00:00:00Z'",
         "(StartTime BETWEEN '2026-01-01T00:00:00Z' AND '2027-01-01T00:00:00Z')"),
        ("SignalwayRuleId is not null", "(SignalwayRuleId IS NOT NULL)"),
        ("WorkflowId starts_with 'order-'", "(WorkflowId STARTS_WITH 'order-')"),
        ("WorkflowId NOT STARTS_WITH 'x' AND HistoryLength <= -1.5",
         "(WorkflowId NOT STARTS_WITH 'x' AND HistoryLength <= -1.5)"),
        ("", ""),
    ],
)
def test_valid_filters_are_rendered_canonically(query: str, rendered: str) -> None:
    assert parse(query) == rendered


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("SignalwayProject = 'beta'", "SignalwayProject"),
        ("signalwayproject = 'beta'", "signalwayproject"),
        ("WorkflowType = 'A' OR SignalwayVisibility = 'private'", "SignalwayVisibility"),
        ("WorkflowType = 'A') OR (SignalwayProject = 'beta'", "')'"),
        ("WorkflowType = 'A' OR 1 = 1", "'1'"),
        ("WorkflowType = 'a\\' OR SignalwayProject = \\'beta'", "quote"),
        ("WorkflowType = 'A'; DROP TABLE executions", "';"),
        ("WorkflowType = 'A' -- comment", "'-"),
        ("WorkflowType = 'A' ORDER BY StartTime", "ORDER BY"),
        ("Bogus = 'x'", "Bogus"),
        ("WorkflowType = ", "ended"),
        ("(((WorkflowType = 'A'", "ended"),
        ("WorkflowType IS 'x'", "NULL"),
        ("WorkflowType = WorkflowId", "quoted string or a number"),
        ("WorkflowType = 'A' AND", "ended"),
        ("WorkflowType ‘A’", "unexpected"),
    ],
)
def test_bad_or_scope_widening_filters_are_refused_naming_the_problem(query: str, named: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse(query)
    assert named in str(info.value.detail)
    assert info.value.status == 400


def test_depth_and_size_are_bounded() -> None:
    with pytest.raises(InvalidQuery, match="nest deeper"):
        parse("(" * 40 + "WorkflowType = 'A'" + ")" * 40)
    with pytest.raises(InvalidQuery, match="comparisons"):
        parse(" OR ".join(["WorkflowType = 'A'"] * 100))
    with pytest.raises(InvalidQuery, match="longer than"):
        parse("WorkflowType = '" + "a" * 5000 + "'")
