"""The workflow catalog: the workflow types clients may start through the gateway, the task
queue each is started on, and the JSON Schemas its input, signals and updates are checked
against before anything reaches Temporal (`SIGNALWAY_WORKFLOWS`, docs/workflow-catalog.md).

One mechanism for every workflow, whatever language it is written in: a catalog entry. The
shipped examples are entries too (`examples_catalog.json` beside this module, generated from
their classes by `catalog_of`, the same function behind `signalway catalog module:attr`), so
the gateway never imports a workflow's code.

    {"OrderWorkflow": {
        "task_queue": "orders",                      # omitted: Signalway's own (SIGNALWAY_TASK_QUEUE)
        "input_schema": {...JSON Schema...} | null,  # null/omitted: input passed as is
        "signals": {"approve": {...} | null},        # payload schema per signal
        "updates": {"set_limit": {...} | null},
        "queries": ["status"],
        "conversation": false,                       # listed by the conversations endpoint
        "description": "..."}}

A top-level `"include_examples": true` adds the shipped examples to a catalog that is set.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

EXAMPLES_FILE = Path(__file__).with_name("examples_catalog.json")
INCLUDE_EXAMPLES = "include_examples"
# Errors reported per refused value: enough to fix a request, bounded for a hostile one.
MAX_ERRORS = 20


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the entry and what is wrong."""


class _Entry(BaseModel):
    """The wire form of one entry (unknown keys refused: a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_queue: str | None = Field(None, min_length=1, max_length=1000)
    input_schema: dict[str, Any] | None = None
    signals: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    updates: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    queries: list[str] = Field(default_factory=list)
    conversation: bool = False
    description: str | None = None


def _validator(schema: dict[str, Any]) -> Validator:
    """A validator for `schema` in its own `$schema` draft (2020-12, pydantic's, when unset).

    References resolve inside the schema only (`#/$defs/...`): nothing is fetched.
    """
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


@dataclass(frozen=True)
class WorkflowEntry:
    """One workflow type clients may start."""

    name: str
    task_queue: str | None = None
    input_schema: dict[str, Any] | None = None
    signals: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)
    updates: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)
    queries: tuple[str, ...] = ()
    conversation: bool = False
    description: str | None = None

    @cached_property
    def _validators(self) -> dict[tuple[str, str], Validator]:
        schemas: dict[tuple[str, str], dict[str, Any]] = {}
        if self.input_schema is not None:
            schemas["input", ""] = self.input_schema
        for kind, named in (("signals", self.signals), ("updates", self.updates)):
            for name, schema in named.items():
                if schema is not None:
                    schemas[kind, name] = schema
        validators = {}
        for key, schema in schemas.items():
            where = "input_schema" if key[0] == "input" else f"{key[0]}.{key[1]}"
            try:
                validators[key] = _validator(schema)
            except SchemaError as exc:
                raise CatalogError(f"entry {self.name!r}: {where}: not a valid JSON Schema: {exc.message}") from None
        return validators

    def check(self) -> None:
        """Raise `CatalogError` when a schema of the entry is not a valid JSON Schema."""
        _ = self._validators

    def schema_for(self, kind: str, name: str = "") -> Validator | None:
        """The validator of the input (`kind="input"`) or of one signal's or update's payload."""
        return self._validators.get((kind, name))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.task_queue is not None:
            data["task_queue"] = self.task_queue
        data["input_schema"] = self.input_schema
        data["signals"] = dict(self.signals)
        data["updates"] = dict(self.updates)
        data["queries"] = list(self.queries)
        data["conversation"] = self.conversation
        if self.description:
            data["description"] = self.description
        return data


def payload_errors(validator: Validator, value: Any) -> list[dict[str, Any]]:
    """`value`'s problems against a schema, in the shape of pydantic's errors the API already
    answers with (`loc`, `msg`, `type`), the field named in `loc`; empty when it is valid.

    The messages never quote the value (jsonschema's own do, at any length).
    """
    found: list[dict[str, Any]] = []
    for error in sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]):
        found.extend(_describe(error))
        if len(found) >= MAX_ERRORS:
            break
    return found[:MAX_ERRORS]


def with_defaults(validator: Validator, value: Any) -> Any:
    """`value` (valid) with the schema's `default`s filled in for the object properties it
    omits, nested objects too (local `$ref`s followed), as pydantic fills a model's: the run,
    its history and its listing show the values it was started with."""
    root = validator.schema

    def deref(schema: Any) -> Any:
        for _ in range(32):  # a chain of references, bounded
            ref = schema.get("$ref") if isinstance(schema, dict) else None
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return schema
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            schema = target
        return schema

    def fill(schema: Any, item: Any, depth: int) -> Any:
        schema = deref(schema)
        if depth > 64 or not isinstance(item, dict) or not isinstance(schema, dict):
            return item
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return item
        filled = dict(item)
        for name, sub in properties.items():
            sub = deref(sub)
            if name in filled:
                filled[name] = fill(sub, filled[name], depth + 1)
            elif isinstance(sub, dict) and "default" in sub:
                filled[name] = copy.deepcopy(sub["default"])
        return filled

    return fill(root, value, 0)


def _describe(error: ValidationError) -> list[dict[str, Any]]:
    loc: list[Any] = list(error.absolute_path)
    keyword = str(error.validator)
    expected: Any = error.validator_value
    schema: Any = error.schema
    if keyword in ("anyOf", "oneOf") and error.context:
        # `X | None` fields are anyOf [X, null]: the branch that is not a bare type mismatch
        # (e.g. a number out of range) says more than "not valid under any of the schemas".
        branches = [e for e in error.context if e.validator != "type"] or list(error.context)
        deepest = max(branches, key=lambda e: len(e.absolute_path))
        return _describe(deepest)
    if keyword == "required" and isinstance(error.instance, dict):
        return [{"loc": [*loc, name], "msg": "Field required", "type": "missing"}
                for name in expected if name not in error.instance]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = [k for k in error.instance if k not in known and not patterns]
        if extra:
            return [{"loc": [*loc, name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
                    for name in extra]
    messages: dict[str, Callable[[], str]] = {
        "type": lambda: f"Input should be of type {_or(expected)}",
        "minLength": lambda: f"String should have at least {expected} character{'s' * (expected != 1)}",
        "maxLength": lambda: f"String should have at most {expected} character{'s' * (expected != 1)}",
        "pattern": lambda: f"String should match pattern '{expected}'",
        "minimum": lambda: f"Input should be greater than or equal to {expected}",
        "maximum": lambda: f"Input should be less than or equal to {expected}",
        "exclusiveMinimum": lambda: f"Input should be greater than {expected}",
        "exclusiveMaximum": lambda: f"Input should be less than {expected}",
        "enum": lambda: f"Input should be {_or([json.dumps(v) for v in expected])}",
        "const": lambda: f"Input should be {json.dumps(expected)}",
        "minItems": lambda: f"List should have at least {expected} item{'s' * (expected != 1)}",
        "maxItems": lambda: f"List should have at most {expected} item{'s' * (expected != 1)}",
        "format": lambda: f"Input should be a valid {expected}",
        "false": lambda: "No value is allowed here",
    }
    describe = messages.get(keyword)
    message = describe() if describe else f"Input does not satisfy the schema's {keyword!r}"
    return [{"loc": loc, "msg": message, "type": keyword}]


def _or(expected: Any) -> str:
    items = [str(e) for e in expected] if isinstance(expected, list) else [str(expected)]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


@dataclass(frozen=True)
class WorkflowCatalog:
    """The workflow types clients may start, by name."""

    entries: Mapping[str, WorkflowEntry]

    def get(self, name: str) -> WorkflowEntry | None:
        return self.entries.get(name)

    def names(self) -> list[str]:
        return sorted(self.entries)

    @property
    def conversation_types(self) -> frozenset[str]:
        return frozenset(name for name, entry in self.entries.items() if entry.conversation)

    def to_json(self) -> dict[str, Any]:
        return {name: self.entries[name].to_json() for name in sorted(self.entries)}

    def restricted_to(self, names: Iterable[str]) -> WorkflowCatalog:
        """Only `names` (the older SIGNALWAY_WORKFLOW_TYPES list); a name the catalog lacks
        becomes an entry on Signalway's own task queue without schemas, as it was before."""
        return WorkflowCatalog({name: self.entries.get(name) or WorkflowEntry(name) for name in names})


def parse_catalog(data: Any, *, source: str = "the catalog") -> WorkflowCatalog:
    """A catalog from its JSON form (a mapping of type name to entry), every schema checked."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"{source} must be a JSON object mapping workflow types to entries")
    data = dict(data)
    include = data.pop(INCLUDE_EXAMPLES, False)
    if not isinstance(include, bool):
        raise CatalogError(f"{INCLUDE_EXAMPLES!r} must be true or false")
    entries: dict[str, WorkflowEntry] = dict(examples_catalog().entries) if include else {}
    for name, raw in data.items():
        if not isinstance(name, str) or not name.strip():
            raise CatalogError("a workflow type name must be a non-empty string")
        if not isinstance(raw, Mapping):
            raise CatalogError(f"entry {name!r}: must be an object (at least {{\"task_queue\": \"...\"}})")
        try:
            parsed = _Entry.model_validate(raw)
        except PydanticValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CatalogError(f"entry {name!r}: {where}: {first['msg']}") from None
        entry = WorkflowEntry(
            name=name, task_queue=parsed.task_queue, input_schema=parsed.input_schema,
            signals=dict(parsed.signals), updates=dict(parsed.updates), queries=tuple(parsed.queries),
            conversation=parsed.conversation, description=parsed.description)
        entry.check()
        entries[name] = entry
    return WorkflowCatalog(entries)


def load_catalog(value: str) -> WorkflowCatalog:
    """`SIGNALWAY_WORKFLOWS`: inline JSON (an object), or a path to a .json, .yaml/.yml
    or .toml file holding the same object."""
    text = value.strip()
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        return parse_catalog(data)
    path = Path(text).expanduser()
    try:
        raw = path.read_text()
    except OSError as exc:
        raise CatalogError(f"not inline JSON, and the file {str(path)!r} cannot be read ({exc.strerror})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(raw)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(raw)
        elif suffix == ".toml":
            data = tomllib.loads(raw)
        else:
            raise CatalogError(f"the file {str(path)!r} must end in .json, .yaml, .yml or .toml")
    except CatalogError:
        raise
    except Exception as exc:  # each parser's own error: its message gives the position
        raise CatalogError(f"the file {str(path)!r} could not be parsed: {exc}") from None
    return parse_catalog(data, source=f"the file {str(path)!r}")


_EXAMPLES: WorkflowCatalog | None = None


def examples_catalog() -> WorkflowCatalog:
    """The shipped examples' catalog (the default when SIGNALWAY_WORKFLOWS is unset)."""
    global _EXAMPLES
    if _EXAMPLES is None:
        _EXAMPLES = parse_catalog(json.loads(EXAMPLES_FILE.read_text()), source=str(EXAMPLES_FILE))
    return _EXAMPLES


# -- generating entries from Python workflow classes ---------------------------------------


def _first_param_schema(fn: Any) -> dict[str, Any] | None:
    """The JSON Schema of a handler's first parameter (after `self`), from its type hint."""
    from pydantic import TypeAdapter

    params = list(inspect.signature(fn).parameters.values())[1:]
    if not params:
        return None
    hint = typing.get_type_hints(fn).get(params[0].name)
    if hint is None or hint is Any:
        return None
    schema: dict[str, Any] = TypeAdapter(hint).json_schema()
    return schema


def entry_of(cls: type, *, task_queue: str | None = None, conversation: bool = False) -> dict[str, Any]:
    """A catalog entry read from a Python workflow class's decorators and type hints."""
    from temporalio import workflow

    definition = workflow._Definition.must_from_class(cls)
    doc = inspect.getdoc(cls) or ""
    entry = WorkflowEntry(
        name=definition.name or cls.__name__,
        task_queue=task_queue,
        input_schema=_first_param_schema(definition.run_fn),
        signals={name: _first_param_schema(s.fn) for name, s in sorted(definition.signals.items()) if name},
        updates={name: _first_param_schema(u.fn) for name, u in sorted(definition.updates.items()) if name},
        queries=tuple(sorted(name for name in definition.queries if name and not name.startswith("__"))),
        conversation=conversation,
        description=doc.split("\n\n", 1)[0].replace("\n", " ") or None,
    )
    return entry.to_json()


def workflow_classes(target: str) -> list[type]:
    """The classes `module:attr` names: a workflow class, or a list/tuple of them."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise CatalogError(f"{target!r}: expected module:attr (e.g. myteam.workflows:ALL)")
    value: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        value = getattr(value, part)
    classes = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    if not all(isinstance(c, type) for c in classes):
        raise CatalogError(f"{target!r} is not a workflow class or a list of them")
    return classes


def catalog_of(classes: Iterable[type], *, task_queue: str | None = None,
               conversations: Iterable[str] = ()) -> dict[str, Any]:
    """The catalog (JSON form) of Python workflow classes, sorted by type name."""
    from temporalio import workflow

    chat = set(conversations)
    entries: dict[str, Any] = {}
    for cls in classes:
        name = workflow._Definition.must_from_class(cls).name or cls.__name__
        entries[name] = entry_of(cls, task_queue=task_queue, conversation=name in chat)
    return {name: entries[name] for name in sorted(entries)}
