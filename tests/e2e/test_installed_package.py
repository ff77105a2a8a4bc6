"""Signalway installed from its wheel, as a team installs it beside its own packages.

The wheel puts nothing but `signalway`-named packages at the top of site-packages, so a team's
own `workflows`, `worker` or `gateway` package keeps working beside it; and it holds everything
`signalway dev` needs, so the installed command runs from any folder.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from signalway.devstack import dev_token
from signalway.localstack import free_port
from tests.helpers.http import execute, run_path, wait_run
from tests.helpers.installed import Venv, installed_venv, top_level_names
from tests.helpers.polling import eventually

TEAM_PACKAGES = ("workflows", "worker", "gateway")


@pytest.fixture(scope="module")
def wheel(signalway_wheel: Path) -> Path:
    return signalway_wheel


@pytest.fixture(scope="module")
def team_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """The wheel with the `local` extra, and a team project whose packages are called
    `workflows`, `worker` and `gateway`, installed after it."""
    root = tmp_path_factory.mktemp("team")
    venv = installed_venv(root / "venv", wheel, extras="local")
    project = root / "team-project"
    for name in TEAM_PACKAGES:
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"OWNER = 'team:{name}'\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "team-project"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[tool.setuptools]\npackages = {list(TEAM_PACKAGES)!r}\n')
    venv.pip_install(str(project))
    return venv


def test_the_wheel_puts_only_signalway_names_at_the_top_of_site_packages(wheel: Path) -> None:
    names = top_level_names(wheel)
    assert "signalway" in names
    assert {name for name in names if not name.startswith("signalway")} == set()


def test_a_team_package_named_like_ours_is_its_own_beside_signalway(team_venv: Venv, tmp_path: Path) -> None:
    code = ("import workflows, worker, gateway, signalway.gateway, signalway.worker;"
            "print(workflows.OWNER, worker.OWNER, gateway.OWNER)")
    result = subprocess.run([str(team_venv.python), "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["team:workflows", "team:worker", "team:gateway"]


@pytest.fixture
def installed_dev(team_venv: Venv, tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """The installed `signalway dev`, run from an empty folder that is not the checkout."""
    port = free_port()
    folder = tmp_path / "anywhere"
    folder.mkdir()
    log = tmp_path / "dev.log"
    argv = [str(team_venv.bin / "signalway"), "dev", "--data-dir", str(folder / "data"), "--port", str(port),
            "--temporal-port", str(free_port()), "--ui-port", str(free_port()), "--redis-port", str(free_port())]
    env = {"PATH": f"{team_venv.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", folder / "data", [log.read_text()]
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def test_installed_signalway_dev_runs_the_examples_from_any_folder(
        installed_dev: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, data_dir, _ = installed_dev

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, within=90, what=f"the installed gateway's /readyz\n{(tmp_path / 'dev.log').read_text()}")
    token = dev_token((data_dir / "dev-secret").read_text().strip())
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        wid, rid = await execute(http, "ConversationWorkflow", {})
        sent = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "bye"})
        assert sent.status_code == 200, sent.text
        run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"] == {"turns": 1}
    assert sys.prefix not in (tmp_path / "dev.log").read_text(), "it ran from the checkout's venv"
