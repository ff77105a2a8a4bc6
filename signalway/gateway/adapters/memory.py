"""What one gateway process remembers so that Temporal is not asked the same thing twice.

Every cache here is bounded (entries, or bytes) and holds only what cannot change, or what
a miss corrects on the next request:

- a workflow id's facts (project, visibility, who started it, type): the same for every run
  of the id, so a durable signal or cancel needs no describe before it;
- the handler names a workflow type answers to, for a short while: a name missing from the
  remembered set is asked of the run again before the caller gets a 422;
- a closed run's mapped history and view: a closed run never changes;
- which run of a workflow id is its last, once that run closed for good, for a short while
  (a workflow id is used once by Signalway; one reused elsewhere shows its new run soon).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from signalway.gateway.adapters.temporal import HandlerSet, RunFacts, TtlLru, WorkflowHandlers

# A closed run's history kept for repeated pages: at most this many bytes (its JSON size) in all,
# and no single run over an eighth of it (a huge history is paged from Temporal as before).
HISTORY_BYTES = 32 * 1024 * 1024
_KINDS = ("signals", "queries", "updates")


class ByteBudget:
    """An LRU bounded by the sum of its values' sizes, not their number."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[Any, tuple[int, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: Any, value: Any, size: int) -> bool:
        """Keep `value` (of `size` bytes) unless it alone takes over an eighth of the budget."""
        if size > self.budget // 8:
            return False
        old = self._items.pop(key, None)
        if old is not None:
            self.used -= old[0]
        self._items[key] = (size, value)
        self.used += size
        while self.used > self.budget:
            _, (dropped, _) = self._items.popitem(last=False)
            self.used -= dropped
        return True


@dataclass(frozen=True)
class ClosedRun:
    """The last run of a workflow id, closed for good (no run continues it)."""

    run_id: str
    facts: RunFacts


@dataclass
class Memory:
    # workflow id → RunFacts: project and visibility do not change across a workflow's runs.
    # Long-lived: only a workflow id reused by a start outside Signalway could change them.
    facts: TtlLru = field(default_factory=lambda: TtlLru(ttl=3600, size=100_000))
    # (workflow type, kind) → HandlerSet: what the last run asked answered; a name it lacks is
    # asked again, so only a handler the type dropped since could still pass for a minute.
    handlers: TtlLru = field(default_factory=lambda: TtlLru(ttl=60, size=10_000))
    # workflow id → ClosedRun, briefly.
    closed: TtlLru = field(default_factory=lambda: TtlLru(ttl=60, size=100_000))
    # (run id, what) → a closed run's mapped history or view, by bytes.
    history: ByteBudget = field(default_factory=lambda: ByteBudget(HISTORY_BYTES))

    def workflow_facts(self, workflow_id: str) -> RunFacts | None:
        found: RunFacts | None = self.facts.get(workflow_id)
        return found

    def remember_facts(self, workflow_id: str, facts: RunFacts) -> None:
        self.facts.put(workflow_id, facts)

    def forget(self, workflow_id: str) -> None:
        self.facts.pop(workflow_id)
        self.closed.pop(workflow_id)

    def handler_set(self, workflow_type: str, kind: str) -> HandlerSet | None:
        found: HandlerSet | None = self.handlers.get((workflow_type, kind))
        return found

    def remember_handlers(self, workflow_type: str, handlers: WorkflowHandlers) -> None:
        for kind in _KINDS:
            self.handlers.put((workflow_type, kind), getattr(handlers, kind))

    def closed_run(self, workflow_id: str) -> ClosedRun | None:
        found: ClosedRun | None = self.closed.get(workflow_id)
        return found

    def remember_closed(self, workflow_id: str, run_id: str, facts: RunFacts) -> None:
        self.closed.put(workflow_id, ClosedRun(run_id, facts))
