"""The workflow catalog (`signalway.catalog`, SIGNALWAY_WORKFLOWS): the shipped examples' file
kept equal to what their classes give, the forms a catalog is read from, a bad catalog as one
configuration line naming the entry, and refusals in the API's 422 shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from signalway.catalog import (
    EXAMPLES_FILE,
    CatalogError,
    catalog_of,
    examples_catalog,
    load_catalog,
    parse_catalog,
    payload_errors,
    with_defaults,
)
from signalway.cli import main
from tests.unit.test_config_errors import assert_config_errors, run

ORDERS = {"OrderSync": {"task_queue": "orders", "input_schema": {
    "type": "object", "properties": {"order_id": {"type": "string", "minLength": 1}}, "required": ["order_id"],
    "additionalProperties": False}, "signals": {"cancel": None, "ship": {"type": "object"}},
    "queries": ["status"]}}


def test_the_shipped_file_is_what_the_example_classes_give() -> None:
    # The one place outside the worker that imports the examples: the gateway reads the file.
    from signalway_examples.registry import CONVERSATION_TYPES, WORKFLOWS

    generated = catalog_of(WORKFLOWS, conversations=CONVERSATION_TYPES)
    assert json.loads(EXAMPLES_FILE.read_text()) == generated, (
        "regenerate: signalway catalog workflows.registry:WORKFLOWS --conversation ConversationWorkflow "
        "> signalway/examples_catalog.json")
    shipped = examples_catalog()
    assert shipped.names() == ["ApprovalWorkflow", "ConversationWorkflow", "OrderFulfillmentWorkflow",
                               "StandardContentIngestion"]
    approval = shipped.get("ApprovalWorkflow")
    assert approval is not None and set(approval.signals) == {"approve", "reject"}
    assert approval.task_queue is None  # Signalway's own, whatever SIGNALWAY_TASK_QUEUE says
    assert shipped.conversation_types == {"ConversationWorkflow"}


def test_the_cli_prints_entries_of_a_teams_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "team_flows.py").write_text(
        "from dataclasses import dataclass\n"
        "from temporalio import workflow\n"
        "@dataclass\nclass Order:\n    order_id: str\n    amount: int = 0\n"
        "@workflow.defn(name='OrderSync')\nclass OrderSync:\n"
        "    '''Keeps an order in sync.'''\n"
        "    @workflow.run\n    async def run(self, order: Order) -> None: ...\n"
        "    @workflow.signal\n    async def cancel(self) -> None: ...\n"
        "    @workflow.update\n    async def set_amount(self, amount: int) -> int: return amount\n"
        "    @workflow.query\n    def status(self) -> str: return ''\n"
        "ALL = [OrderSync]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["catalog", "team_flows:ALL", "--task-queue", "orders"]) == 0
    printed = json.loads(capsys.readouterr().out)
    entry = printed["OrderSync"]
    assert entry["task_queue"] == "orders" and entry["description"] == "Keeps an order in sync."
    assert entry["input_schema"]["required"] == ["order_id"]
    assert entry["signals"] == {"cancel": None} and entry["updates"] == {"set_amount": {"type": "integer"}}
    assert entry["queries"] == ["status"]
    # What it prints is a catalog the gateway reads as is.
    catalog = parse_catalog(printed)
    sync = catalog.get("OrderSync")
    assert sync is not None and sync.task_queue == "orders"
    assert main(["catalog", "team_flows:Nope"]) == 2


def test_a_catalog_is_inline_json_or_a_json_yaml_or_toml_file(tmp_path: Path) -> None:
    inline = load_catalog(json.dumps(ORDERS))
    entry = inline.get("OrderSync")
    assert inline.names() == ["OrderSync"] and entry is not None and entry.queries == ("status",)
    import yaml

    (tmp_path / "c.json").write_text(json.dumps(ORDERS))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(ORDERS))
    (tmp_path / "c.toml").write_text('[OrderSync]\ntask_queue = "orders"\nqueries = ["status"]\n'
                                     '[OrderSync.input_schema]\ntype = "object"\n')
    for name in ("c.json", "c.yaml", "c.toml"):
        loaded = load_catalog(str(tmp_path / name)).get("OrderSync")
        assert loaded is not None and loaded.task_queue == "orders", name
    both = load_catalog(json.dumps({**ORDERS, "include_examples": True}))
    assert "OrderSync" in both.names() and "ApprovalWorkflow" in both.names()


@pytest.mark.parametrize(("catalog", "message"), [
    ('{"A": ', "not valid JSON"),
    ('["A"]', "the catalog must be a JSON object"),
    ('{"A": "orders"}', "entry 'A': must be an object"),
    ('{"A": {"task_queue": 5}}', "entry 'A': task_queue: Input should be a valid string"),
    ('{"A": {"task_queu": "q"}}', "entry 'A': task_queu: Extra inputs are not permitted"),
    ('{"A": {"input_schema": {"type": "nope"}}}', "entry 'A': input_schema: not a valid JSON Schema"),
    ('{"A": {"signals": {"go": {"minLength": -1}}}}', "entry 'A': signals.go: not a valid JSON Schema"),
    ("/nowhere/catalog.json", "not inline JSON, and the file '/nowhere/catalog.json' cannot be read"),
])
def test_a_bad_catalog_names_the_entry(catalog: str, message: str) -> None:
    with pytest.raises(CatalogError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        load_catalog(catalog)


def test_a_gateway_with_a_bad_catalog_stops_with_one_line_naming_it() -> None:
    result = run("signalway", "gateway", SIGNALWAY_API_KEYS='{"k": "p"}',
                 SIGNALWAY_WORKFLOWS='{"Good": {"task_queue": "q"}, "Bad": {"input_schema": {"type": 7}}}')
    assert_config_errors(result, [
        "configuration error: SIGNALWAY_WORKFLOWS: entry 'Bad': input_schema: not a valid JSON Schema"])


def test_refusals_name_the_field_in_the_apis_error_shape() -> None:
    entry = load_catalog(json.dumps(ORDERS)).get("OrderSync")
    assert entry is not None
    schema = entry.schema_for("input")
    assert schema is not None
    assert payload_errors(schema, {"order_id": "o-1"}) == []
    assert payload_errors(schema, {}) == [{"loc": ["order_id"], "msg": "Field required", "type": "missing"}]
    assert payload_errors(schema, {"order_id": "", "extra": 1}) == [
        {"loc": ["extra"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"},
        {"loc": ["order_id"], "msg": "String should have at least 1 character", "type": "minLength"}]
    secret = "s3cr3t-value-" * 50
    errors = payload_errors(schema, {"order_id": 5, "note": secret})
    assert secret not in json.dumps(errors)
    # `X | None` fields (anyOf [X, null]): the branch that failed on its bounds, not "no branch matched".
    approval = examples_catalog().get("ApprovalWorkflow")
    assert approval is not None and (approval_input := approval.schema_for("input")) is not None
    assert payload_errors(approval_input, {"subject": "s", "timeout_secs": -1}) == [
        {"loc": ["timeout_secs"], "msg": "Input should be greater than 0", "type": "exclusiveMinimum"}]
    assert entry.schema_for("signals", "cancel") is None and entry.schema_for("signals", "ship") is not None


def test_the_older_type_list_restricts_the_catalog() -> None:
    restricted = examples_catalog().restricted_to(["ApprovalWorkflow", "TheirFlow"])
    assert restricted.names() == ["ApprovalWorkflow", "TheirFlow"]
    theirs = restricted.get("TheirFlow")
    assert theirs is not None and theirs.task_queue is None and theirs.schema_for("input") is None


def test_defaults_the_schema_names_are_filled_in_as_pydantic_would() -> None:
    ingestion = examples_catalog().get("StandardContentIngestion")
    assert ingestion is not None and (schema := ingestion.schema_for("input")) is not None
    assert with_defaults(schema, {"documentId": "d", "parts": 2}) == {
        "documentId": "d", "parts": 2, "part_delay_secs": 0.0}
    nested = load_catalog(json.dumps({"N": {"input_schema": {
        "type": "object", "properties": {"inner": {"$ref": "#/$defs/Inner"}}, "$defs": {"Inner": {
            "type": "object", "properties": {"size": {"type": "integer", "default": 3}}}}}}})).get("N")
    assert nested is not None and (nested_schema := nested.schema_for("input")) is not None
    assert with_defaults(nested_schema, {"inner": {}}) == {"inner": {"size": 3}}
