"""The tests' own layout: shared code lives in `tests/helpers`, conftest modules hold fixtures only."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in `path`, nested ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def test_no_test_module_imports_from_a_conftest() -> None:
    # pytest loads conftest modules itself; importing one as a module runs it twice under two names.
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1] == "conftest"
    ]
    assert offenders == [], "import shared code from tests.helpers instead:\n" + "\n".join(offenders)


def test_shared_helpers_are_defined_once() -> None:
    shared = {"wait_ready", "eventually", "gateway_env", "rs256_token", "assert_problem"}
    defined: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in shared:
                defined.setdefault(node.name, []).append(str(path.relative_to(TESTS.parent)))
    assert {name: places for name, places in defined.items() if len(places) > 1} == {}
    assert all(place[0].startswith("tests/helpers/") for place in defined.values()), defined
