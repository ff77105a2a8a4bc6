"""workflows imports neither worker nor gateway; gateway never imports worker."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("workflows", {"worker", "gateway"}), ("gateway", {"worker"})])
def test_package_boundaries(package: str, forbidden: set[str]) -> None:
    assert not imported_packages(package) & forbidden
