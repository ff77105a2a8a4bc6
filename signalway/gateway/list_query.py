"""A caller's Temporal list filter, parsed and re-rendered so it can never widen scope.

The runs surface accepts a `query` in Temporal's visibility language. It is never pasted
into the query sent to Temporal: it is tokenised, parsed into a tree, checked (only known
search attributes, never the project/visibility ones, bounded size), and rendered back
from the tree. The rendered filter is a single parenthesised expression that the gateway
ANDs with the caller's scope, so no crafted quote, parenthesis or `OR` can reach another
project's runs.

Grammar (keywords in any case):

    expr       := and_expr ("OR" and_expr)*
    and_expr   := term ("AND" term)*
    term       := "(" expr ")" | comparison
    comparison := NAME op value
                | NAME ["NOT"] "IN" "(" value ("," value)* ")"
                | NAME ["NOT"] "BETWEEN" value "AND" value
                | NAME "IS" ["NOT"] "NULL"
                | NAME ["NOT"] "STARTS_WITH" string
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    value      := string | number
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from signalway.gateway.errors import InvalidQuery

MAX_LENGTH = 4096
MAX_DEPTH = 16
MAX_COMPARISONS = 64

SYSTEM_ATTRIBUTES = frozenset({
    "WorkflowId", "WorkflowType", "RunId", "StartTime", "CloseTime", "ExecutionTime",
    "ExecutionStatus", "ExecutionDuration", "HistoryLength", "HistorySizeBytes",
    "StateTransitionCount", "TaskQueue", "ParentWorkflowId", "ParentRunId",
    "RootWorkflowId", "RootRunId",
})
CALLER_ATTRIBUTES = frozenset({
    "SignalwayDocumentId", "SignalwayEventName", "SignalwayRuleId", "SignalwayRuleName",
    "SignalwayInitiatedBy", "SignalwayInteraction",
})
# The scope the gateway sets from the caller's token; a filter may not mention them at all.
SCOPE_ATTRIBUTES = frozenset({"SignalwayProject", "SignalwayVisibility", "SignalwayApi"})
ALLOWED_ATTRIBUTES = SYSTEM_ATTRIBUTES | CALLER_ATTRIBUTES

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "BETWEEN", "IS", "NULL", "STARTS_WITH"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'[^'\\\x00-\x1f]*'|"[^"\\\x00-\x1f]*")
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | op | punct | word
    text: str
    pos: int

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind == "word" and upper in _KEYWORDS else None


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None:
            snippet = query[pos:pos + 20]
            if query[pos] in "'\"":
                raise InvalidQuery(
                    f"Invalid query: unterminated string or a quote/backslash inside a value at "
                    f"position {pos} ({snippet!r}); values may not contain quotes or backslashes."
                )
            raise InvalidQuery(f"Invalid query: unexpected {snippet!r} at position {pos}.")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.comparisons = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            raise InvalidQuery(f"Invalid query: expected {expected} but the query ended.")
        self.i += 1
        return token

    def fail(self, token: Token, expected: str) -> InvalidQuery:
        return InvalidQuery(f"Invalid query: expected {expected}, got {token.text!r} at position {token.pos}.")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.keyword in words

    def expect_keyword(self, word: str) -> None:
        token = self.next(word)
        if token.keyword != word:
            raise self.fail(token, word)

    def expect_punct(self, text: str) -> None:
        token = self.next(repr(text))
        if token.kind != "punct" or token.text != text:
            raise self.fail(token, repr(text))

    def expr(self, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"Invalid query: parentheses nest deeper than {MAX_DEPTH}.")
        parts = [self.and_expr(depth)]
        while self.at_keyword("OR"):
            self.i += 1
            parts.append(self.and_expr(depth))
        return parts[0] if len(parts) == 1 else " OR ".join(parts)

    def and_expr(self, depth: int) -> str:
        parts = [self.term(depth)]
        while self.at_keyword("AND"):
            self.i += 1
            parts.append(self.term(depth))
        # Every OR below AND is already parenthesised by `term`, so precedence is explicit.
        return " AND ".join(parts)

    def term(self, depth: int) -> str:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.i += 1
            inner = self.expr(depth + 1)
            self.expect_punct(")")
            return f"({inner})"
        return self.comparison()

    def attribute(self) -> str:
        token = self.next("a search attribute name")
        if token.kind != "word" or token.keyword is not None:
            raise self.fail(token, "a search attribute name")
        name = token.text
        if name.lower() in {s.lower() for s in SCOPE_ATTRIBUTES}:
            raise InvalidQuery(
                f"Invalid query: {name} may not be used in a query; the project and visibility "
                f"scope comes from your token."
            )
        if name not in ALLOWED_ATTRIBUTES:
            raise InvalidQuery(
                f"Invalid query: unknown search attribute {name!r}; use one of "
                f"{', '.join(sorted(ALLOWED_ATTRIBUTES))}."
            )
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise InvalidQuery(f"Invalid query: more than {MAX_COMPARISONS} comparisons.")
        return name

    def value(self) -> str:
        token = self.next("a value")
        if token.kind == "number":
            return token.text
        if token.kind == "string":
            return "'" + token.text[1:-1] + "'"
        raise self.fail(token, "a quoted string or a number")

    def comparison(self) -> str:
        name = self.attribute()
        token = self.next("an operator")
        if token.kind == "op":
            return f"{name} {token.text} {self.value()}"
        negate = ""
        if token.keyword == "NOT":
            negate = "NOT "
            token = self.next("IN, BETWEEN or STARTS_WITH")
        if token.keyword == "IN":
            self.expect_punct("(")
            values = [self.value()]
            while (nxt := self.peek()) is not None and nxt.kind == "punct" and nxt.text == ",":
                self.i += 1
                values.append(self.value())
            self.expect_punct(")")
            return f"{name} {negate}IN ({', '.join(values)})"
        if token.keyword == "BETWEEN":
            low = self.value()
            self.expect_keyword("AND")
            return f"{name} {negate}BETWEEN {low} AND {self.value()}"
        if token.keyword == "STARTS_WITH":
            value = self.value()
            if not value.startswith("'"):
                raise InvalidQuery(f"Invalid query: STARTS_WITH needs a quoted string, got {value}.")
            return f"{name} {negate}STARTS_WITH {value}"
        if token.keyword == "IS" and not negate:
            if self.at_keyword("NOT"):
                self.i += 1
                negate = "NOT "
            self.expect_keyword("NULL")
            return f"{name} IS {negate}NULL"
        raise self.fail(token, "an operator (=, !=, <, <=, >, >=, IN, BETWEEN, STARTS_WITH, IS NULL)")


def parse(query: str) -> str:
    """Validate a caller's filter and return it re-rendered as one parenthesised expression."""
    if len(query) > MAX_LENGTH:
        raise InvalidQuery(f"Invalid query: longer than {MAX_LENGTH} characters.")
    tokens = tokenize(query)
    if not tokens:
        return ""
    parser = _Parser(tokens)
    rendered = parser.expr(0)
    extra = parser.peek()
    if extra is not None:
        if extra.kind == "word" and extra.text.upper() == "ORDER":
            raise InvalidQuery("Invalid query: ORDER BY is not supported; runs come newest first.")
        raise parser.fail(extra, "AND, OR or the end of the query")
    return f"({rendered})"
