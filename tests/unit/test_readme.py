"""The README and docs/ stay in step with the code: settings, bench scripts, links.

(`test_compose.py` holds docker-compose.yml to the same settings.)
"""

import re
from pathlib import Path

from signalway.gateway.settings import GatewaySettings
from signalway.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text()
SETTINGS = {f"SIGNALWAY_{n.upper()}" for cls in (GatewaySettings, WorkerSettings) for n in cls.model_fields}
# Read by the local stack and the tests, not by a settings class (documented below the table).
LOCAL_STACK = {"SIGNALWAY_TEMPORAL_BIN", "SIGNALWAY_REDIS_SERVER_BIN", "SIGNALWAY_DATA_DIR", "SIGNALWAY_CHROMIUM_BIN",
               "SIGNALWAY_URL"}  # the last: exported by `signalway env` for curl lines


def _markdown() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md")), ROOT / "bench" / "README.md"]


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(SIGNALWAY_[A-Z_]+)` \|", CONFIGURATION, re.MULTILINE))
    assert documented == SETTINGS


def test_every_setting_the_docs_name_exists() -> None:
    named = {name for path in _markdown() for name in re.findall(r"\bSIGNALWAY_[A-Z][A-Z_]*[A-Z]\b", path.read_text())}
    # docs/operations.md shows what a misspelt name is told at start.
    misspelling = {"SIGNALWAY_WEBHOOK_ALLOWED_NETWORK"}
    assert named - SETTINGS - LOCAL_STACK - misspelling == set()


def test_every_bench_script_is_listed_in_performance() -> None:
    performance = (DOCS / "performance.md").read_text()
    scripts = {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
    assert scripts and {s for s in scripts if f"`{s}`" not in performance} == set()


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    broken = []
    for path in _markdown():
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#", 1)[0]
            if not (path.parent / file).resolve().exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_readme_stays_a_newcomers_page() -> None:
    # The reference lives in docs/ (each API, configuration, deploying, performance, troubleshooting).
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[:4] == ["Quick start", "Try it", "Architecture", "Where to read on"]

