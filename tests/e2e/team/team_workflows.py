"""A team's own workflows (copied into a temporary folder as the package `workflows`): every
step of `signalway.workflow`, a signal and a query. Nothing else of Signalway is imported, and
not through `imports_passed_through`: the workflow sandbox imports `signalway.workflow` itself."""

from datetime import timedelta
from typing import Any

from temporalio import workflow

from signalway.workflow import publish_update, wait_for_event, webhook_and_wait


@workflow.defn
class TeamOrder:
    def __init__(self) -> None:
        self._state = "new"
        self._notes: list[str] = []

    @workflow.run
    async def run(self, input: dict[str, Any]) -> dict[str, Any]:
        await publish_update("PROGRESS", "order received", details={"order_id": input["order_id"]})
        self._state = "asking"
        answer = await webhook_and_wait(input["webhook_url"], {"approved": "boolean"},
                                        timeout=timedelta(minutes=10), step="approve", prompt="Approve the order?")
        self._state = "waiting for payment"
        paid = await wait_for_event(f"team:{input['order_id']}:paid", timeout=timedelta(minutes=10))
        self._state = "done"
        await publish_update("DONE", "order complete")
        return {"approved": answer["approved"], "paid": paid, "notes": self._notes}

    @workflow.signal
    def note(self, input: dict[str, Any]) -> None:
        self._notes.append(str(input["text"]))

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"state": self._state, "notes": self._notes}


WORKFLOWS = [TeamOrder]
