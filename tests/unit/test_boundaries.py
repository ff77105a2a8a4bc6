"""The import order of the whole tree, bottom to top, and no cycles.

    top        signalway (its lazy re-export of the client), signalway.{cli,devstack,
               localstack,client,__main__}, signalway.gateway.__main__,
               signalway.worker.__main__: entry points; nothing imports them
    processes  signalway.gateway (HTTP) and signalway.worker (Temporal worker, with
               signalway.plugin, the worker side of the steps a team's worker loads, and the
               examples' own plugin, signalway_examples.plugin): never each other; the gateway
               never imports the example workflows either (it knows workflows only through the
               catalog and the step contract)
    workflows  the examples: deterministic code; of Signalway only `signalway.workflow`
    bottom     the rest of signalway: settings, Redis formats, attribute names, the steps

Inside the gateway: routes → services → adapters, and only adapters import the backends'
libraries (`temporalio`, `redis`); app.py and deps.py compose them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("signalway", "workflows")
TOP = {"signalway", "signalway.cli", "signalway.devstack", "signalway.localstack", "signalway.client", "signalway.__main__",
       "signalway.gateway.__main__", "signalway.worker.__main__"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "workflows":  # installed, and imported, as `signalway_examples`
        parts[0] = "signalway_examples"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules `path` imports; with `top_level_only`, those run at import time."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # `from package import submodule` imports the submodule (and runs the package's
                # __init__, which is empty or lazy here); `from module import name` the module.
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


MODULES = {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _layer(module: str) -> str:
    if module in TOP:
        return "top"
    if module in ("signalway.plugin", "signalway_examples.plugin"):
        return "worker"
    for process in ("gateway", "worker"):
        if module == f"signalway.{process}" or module.startswith(f"signalway.{process}."):
            return process
    return {"signalway": "bottom", "signalway_examples": "workflows"}[module.split(".")[0]]


# Which layers each layer may import (itself included).
ALLOWED = {
    "bottom": {"bottom"},
    "workflows": {"workflows", "bottom"},
    "gateway": {"gateway", "bottom"},
    "worker": {"worker", "workflows", "bottom"},
    "top": {"top", "gateway", "worker", "workflows", "bottom"},
}


def _first_party(name: str) -> str | None:
    """The first-party module `name` refers to (an imported name may be a module attribute)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_layers_below_it(module: str) -> None:
    wrong = {target for name in _imports(MODULES[module], top_level_only=False)
             if (target := _first_party(name)) and _layer(target) not in ALLOWED[_layer(module)]}
    assert not wrong, f"{module} ({_layer(module)}) imports {sorted(wrong)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("signalway.gateway.")))
def test_gateway_layers(module: str) -> None:
    imported = _imports(MODULES[module], top_level_only=False)
    backends = {n for n in imported if n.split(".")[0] in ("temporalio", "redis")}
    if module.startswith("signalway.gateway.routes"):
        assert not backends, f"{module} imports {sorted(backends)}: routes call services"
        adapters = {n for n in imported if n.startswith("signalway.gateway.adapters")}
        assert not adapters, f"{module} imports {sorted(adapters)}: routes call services"
    elif module.startswith("signalway.gateway.services"):
        assert not backends, f"{module} imports {sorted(backends)}: services use the adapters"
        routes = {n for n in imported if n.startswith("signalway.gateway.routes")}
        assert not routes, f"{module} imports {sorted(routes)}: services sit below the routes"
    elif not module.startswith("signalway.gateway.adapters") and module not in ("signalway.gateway.app", "signalway.gateway.deps"):
        assert not backends, f"{module} imports {sorted(backends)}: only gateway.adapters talk to the backends"


def test_no_import_cycles() -> None:
    graph = {m: {t for n in _imports(p, top_level_only=True) if (t := _first_party(n)) and t != m}
             for m, p in MODULES.items()}
    # A package's __init__ importing its own submodules is how packages re-export; a
    # submodule importing its package's __init__ is then a cycle in name only.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("signalway_examples.")
                                           and m not in ("signalway_examples.registry", "signalway_examples.plugin")))
def test_examples_use_only_the_public_workflow_api(module: str) -> None:
    """The examples are written as a team's workflows are: of Signalway, `signalway.workflow`."""
    signalway = {n for n in _imports(MODULES[module], top_level_only=False) if n.split(".")[0] == "signalway"}
    assert signalway <= {"signalway.workflow"}, f"{module} imports {sorted(signalway)}"
    private = {n for n in _imports(MODULES[module], top_level_only=False) if n != "__future__" and any(p.startswith("_") for p in n.split("."))}
    assert not private, f"{module} imports {sorted(private)}"


@pytest.mark.parametrize("modules", ["signalway.workflow", "signalway_examples, signalway_examples.registry"])
def test_importing_workflow_code_pulls_in_no_io_library(modules: str) -> None:
    """What a workflow imports (the public workflow API, the examples) loads no I/O library,
    nor the gateway or the worker."""
    code = (f"import sys, {modules}\n"
            "loaded = sorted(m for m in ('httpx', 'redis', 'starlette', 'uvicorn', 'signalway.gateway', 'signalway.worker')"
            " if m in sys.modules)\n"
            "print(','.join(loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""


def test_no_gateway_module_imports_the_example_workflows() -> None:
    # The examples are catalog entries like any team's (signalway/examples_catalog.json):
    # no import line in the gateway names them, and loading the whole app loads none of them
    # (neither under their installed name nor as the repository's `workflows` folder).
    examples = ("signalway_examples", "workflows")
    named = {module: sorted(n for n in _imports(path, top_level_only=False) if n.split(".")[0] in examples)
             for module, path in MODULES.items() if module.startswith("signalway.gateway")}
    assert {module: names for module, names in named.items() if names} == {}
    code = ("import sys, signalway.gateway.app, signalway.gateway.settings, signalway.cli\n"
            f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {examples!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""
