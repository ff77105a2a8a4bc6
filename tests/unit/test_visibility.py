import pytest

from signalway import search_attributes as sa
from signalway.gateway.adapters.visibility import all_of, equals, literal
from signalway.gateway.errors import BadRequest


@pytest.mark.parametrize("value", ["a' OR '1'='1", "x\\", 'say "hi"', "new\nline", ""])
def test_literal_refuses_anything_that_could_leave_the_quotes(value: str) -> None:
    with pytest.raises(BadRequest):
        literal(value)


def test_clauses_are_joined_with_and() -> None:
    query = all_of(equals(sa.PROJECT, "p-1"), equals("WorkflowType", "ApprovalWorkflow"), "")
    assert query == "SignalwayProject = 'p-1' AND WorkflowType = 'ApprovalWorkflow'"
    assert all_of("A = 'x' OR B = 'y'", "C = 'z'") == "(A = 'x' OR B = 'y') AND C = 'z'"
