"""Static checks of `docker-compose.yml`, `Dockerfile` and `.dockerignore`.

No Docker engine runs on our build machines, so the production shape is validated here:
service wiring, health-check conditions, SIGNALWAY_* names against the settings classes,
ports, persistence, the search-attribute setup script (run under /bin/sh against a fake
`temporal` CLI) and the image's build inputs. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from signalway import search_attributes
from signalway.gateway.settings import GatewaySettings
from signalway.settings import CommonSettings
from signalway.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

REQUIRED_SERVICES = {
    "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "redis", "worker", "gateway",
}
SETTINGS_OF: dict[str, type[CommonSettings]] = {
    "worker": WorkerSettings, "gateway": GatewaySettings,
}
TEMPORAL_FRONTEND_PORT = 7233
LONG_RUNNING_RESTARTS = {"always", "unless-stopped"}


# --- reading the compose file -------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml defines no services"
    return found


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"service {name!r} is not defined"
    return services()[name]


def environment(name: str) -> dict[str, str | None]:
    """A service's `environment`, mapping or list form, as name -> value (None: pass-through)."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, dict):
        return {str(k): None if v is None else str(v) for k, v in raw.items()}
    env: dict[str, str | None] = {}
    for item in raw:
        key, sep, value = str(item).partition("=")
        env[key] = value if sep else None
    return env


def depends_on(name: str) -> dict[str, str]:
    """A service's dependencies as target -> condition (short syntax means service_started)."""
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):
        return {str(target): "service_started" for target in raw}
    return {str(t): (spec or {}).get("condition", "service_started") for t, spec in raw.items()}


def published_ports(name: str) -> list[tuple[str | None, int]]:
    """(published host port or None, container port) for every entry of `ports`."""
    ports: list[tuple[str | None, int]] = []
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            ports.append((None if published is None else str(published), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host = parts[-2] if len(parts) >= 2 else None
        ports.append((host, int(parts[-1])))
    return ports


def mounts(name: str) -> list[dict[str, Any]]:
    """A service's `volumes` in long form: type, source, target, read_only."""
    found: list[dict[str, Any]] = []
    for entry in service(name).get("volumes") or []:
        if isinstance(entry, dict):
            found.append({
                "type": entry.get("type", "volume"), "source": entry.get("source"),
                "target": entry["target"], "read_only": bool(entry.get("read_only", False)),
            })
            continue
        parts = str(entry).split(":")
        if len(parts) == 1:  # anonymous volume
            found.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        source, target = parts[0], parts[1]
        options = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        found.append({"type": kind, "source": source, "target": target, "read_only": "ro" in options})
    return found


def host_path(source: str) -> Path:
    return (ROOT / source).resolve()


def healthcheck_command(name: str) -> str | None:
    check = service(name).get("healthcheck")
    if not check or check.get("disable") or not check.get("test"):
        return None
    test = check["test"]
    if isinstance(test, str):
        return test
    if test[0] == "NONE":
        return None
    assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must start with CMD or CMD-SHELL"
    return " ".join(str(part) for part in test[1:])


def command_argv(name: str) -> list[str]:
    command = service(name).get("command")
    assert command, f"service {name!r} has no command"
    return [str(part) for part in command] if isinstance(command, list) else str(command).split()


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, required_fill: str) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?message}` with an empty host environment:
    defaults apply and required variables get `required_fill`."""

    def substitute(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return required_fill
        return ""

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def settings_env_names(settings_class: type[CommonSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    assert prefix == "SIGNALWAY_"
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


def parse_duration(text: str) -> float:
    """A compose duration such as `45s`, `1m30s` or `500ms`, in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def image_tag(image: str) -> str | None:
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


# --- services and wiring -------------------------------------------------------------------


def test_required_services_are_defined() -> None:
    assert REQUIRED_SERVICES <= set(services())


def test_every_service_has_an_image_or_a_build() -> None:
    for name, spec in services().items():
        assert spec.get("image") or spec.get("build"), f"{name}: neither image nor build"


def test_third_party_images_are_pinned() -> None:
    for name, spec in services().items():
        if "image" not in spec or spec.get("build"):
            continue
        tag = image_tag(spec["image"])
        assert tag and tag != "latest", f"{name}: pin {spec['image']!r} to a version"


def test_temporal_runs_its_server_image_with_admin_tools_of_the_same_version() -> None:
    # Not temporalio/auto-setup, which Temporal deprecated: the server image, with the schema,
    # the namespace and the search attributes set up by admin-tools one-shots.
    server = service("temporal")["image"]
    assert server.split(":")[0] == "temporalio/server"
    server_version = image_tag(server)
    assert server_version and re.fullmatch(r"1\.\d+\.\d+", server_version), server
    assert tuple(int(n) for n in server_version.split(".")) >= (1, 31, 0), server
    for one_shot in ("temporal-schema", "temporal-setup"):
        tools = service(one_shot)["image"]
        assert tools.split(":")[0] == "temporalio/admin-tools"
        tools_tag = image_tag(tools)
        assert tools_tag and tools_tag.split("-")[0] == server_version, (
            f"{one_shot}: admin-tools {tools_tag!r} should match the server version {server_version!r}"
        )
    assert "auto-setup" not in COMPOSE_FILE.read_text().replace("temporalio/auto-setup, which", "")
    assert service("temporal-ui")["image"].split(":")[0] == "temporalio/ui"


def test_worker_and_gateway_build_this_repository() -> None:
    for name in SETTINGS_OF:
        build = service(name).get("build")
        context = build.get("context") if isinstance(build, dict) else build
        assert context in (".", "./"), f"{name}: build the repository root"
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        assert (ROOT / dockerfile).is_file()


def test_depends_on_targets_are_defined_services() -> None:
    for name in services():
        for target in depends_on(name):
            assert target in services(), f"{name} depends on undefined service {target!r}"


def test_depends_on_uses_known_conditions() -> None:
    known = {"service_started", "service_healthy", "service_completed_successfully"}
    for name in services():
        for target, condition in depends_on(name).items():
            assert condition in known, f"{name} -> {target}: unknown condition {condition!r}"


def test_service_healthy_only_on_services_with_a_healthcheck() -> None:
    for name in services():
        for target, condition in depends_on(name).items():
            if condition == "service_healthy":
                assert healthcheck_command(target), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )


def test_service_completed_successfully_only_on_one_shot_services() -> None:
    for name in services():
        for target, condition in depends_on(name).items():
            if condition == "service_completed_successfully":
                restart = str(service(target).get("restart", "no"))
                assert restart not in LONG_RUNNING_RESTARTS, (
                    f"{name} waits for {target} to complete, but {target} restarts ({restart})"
                )


def test_dependencies_have_no_cycles() -> None:
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        visiting.add(name)
        for target in depends_on(name):
            visit(target, (*path, name))
        visiting.discard(name)
        done.add(name)

    for name in services():
        visit(name, ())


def test_temporal_waits_for_healthy_postgresql_and_its_schema() -> None:
    assert depends_on("temporal-schema").get("postgresql") == "service_healthy"
    assert depends_on("temporal").get("postgresql") == "service_healthy"
    assert depends_on("temporal").get("temporal-schema") == "service_completed_successfully"
    env = environment("temporal")
    assert env.get("DB") == "postgres12"
    assert env.get("POSTGRES_SEEDS") == "postgresql"
    assert env.get("POSTGRES_USER") == environment("postgresql").get("POSTGRES_USER")
    assert env.get("POSTGRES_PWD") == environment("postgresql").get("POSTGRES_PASSWORD"), (
        "Temporal must use the password PostgreSQL is started with"
    )


def test_temporal_setup_and_ui_wait_for_healthy_temporal() -> None:
    assert depends_on("temporal-setup").get("temporal") == "service_healthy"
    assert depends_on("temporal-ui").get("temporal") == "service_healthy"


@pytest.mark.parametrize("name", sorted(SETTINGS_OF))
def test_worker_and_gateway_wait_for_search_attributes_and_redis(name: str) -> None:
    deps = depends_on(name)
    assert deps.get("temporal-setup") == "service_completed_successfully"
    assert deps.get("redis") == "service_healthy"


# --- health checks -------------------------------------------------------------------------


def test_postgresql_healthcheck_uses_pg_isready() -> None:
    check = healthcheck_command("postgresql")
    assert check and "pg_isready" in check


def test_temporal_healthcheck_probes_the_frontend_port() -> None:
    # The server image has no `temporal` CLI: the check is that the frontend accepts
    # connections (temporal-setup then waits for the cluster to answer healthy).
    check = healthcheck_command("temporal")
    assert check and check.split()[:2] == ["nc", "-z"], check
    assert check.split()[-1] == str(TEMPORAL_FRONTEND_PORT), check
    assert environment("temporal").get("BIND_ON_IP") == "0.0.0.0"  # reachable from the other containers


def test_redis_healthcheck_pings() -> None:
    check = healthcheck_command("redis")
    assert check and "redis-cli" in check and "ping" in check


def test_gateway_healthcheck_probes_healthz_on_its_port() -> None:
    test = service("gateway")["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD" and test[1].startswith("python")
    code = test[test.index("-c") + 1]
    compile(code, "<gateway healthcheck>", "exec")  # a typo here would mark it unhealthy forever
    port = environment("gateway")["SIGNALWAY_PORT"]
    assert re.search(rf"https?://(127\.0\.0\.1|localhost):{port}/healthz\b", code), code
    assert "urllib" in code


# --- Signalway settings --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SETTINGS_OF))
def test_signalway_env_names_are_real_settings_fields(name: str) -> None:
    allowed = settings_env_names(SETTINGS_OF[name])
    used = {key for key in environment(name) if key.startswith("SIGNALWAY_")}
    assert used, f"{name} sets no SIGNALWAY_* variable"
    unknown = used - allowed
    assert not unknown, f"{name}: {sorted(unknown)} are not fields of {SETTINGS_OF[name].__name__}"


@pytest.mark.parametrize("name", sorted(SETTINGS_OF))
def test_compose_env_builds_valid_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("SIGNALWAY_"):
            monkeypatch.delenv(key)
    for key, value in environment(name).items():
        if value is not None:
            monkeypatch.setenv(key, interpolate(value, required_fill="r" * 40))
    settings = SETTINGS_OF[name]()  # raises if a value has the wrong type or a check fails
    assert settings.temporal_address == f"temporal:{TEMPORAL_FRONTEND_PORT}"


def test_worker_and_gateway_agree_on_shared_settings() -> None:
    shared = settings_env_names(CommonSettings)
    worker, gateway = environment("worker"), environment("gateway")
    for key in sorted(shared):
        assert worker.get(key) == gateway.get(key), f"worker and gateway disagree on {key}"
    for key in ("SIGNALWAY_TEMPORAL_ADDRESS", "SIGNALWAY_REDIS_URL"):
        assert gateway.get(key), f"{key} must be set: its default points at 127.0.0.1"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("worker", "SIGNALWAY_TEMPORAL_ADDRESS"),
        ("gateway", "SIGNALWAY_TEMPORAL_ADDRESS"),
        ("temporal-setup", "TEMPORAL_ADDRESS"),
        ("temporal-ui", "TEMPORAL_ADDRESS"),
    ],
)
def test_temporal_address_points_at_the_temporal_service(name: str, key: str) -> None:
    address = environment(name).get(key)
    assert address == f"temporal:{TEMPORAL_FRONTEND_PORT}", f"{name}: {key}={address!r}"


@pytest.mark.parametrize("name", sorted(SETTINGS_OF))
def test_redis_url_points_at_the_redis_service(name: str) -> None:
    url = environment(name).get("SIGNALWAY_REDIS_URL") or ""
    assert re.fullmatch(r"redis://redis:6379(/\d+)?", url), url


def test_jwt_secret_comes_from_required_interpolation() -> None:
    value = environment("gateway").get("SIGNALWAY_JWT_SECRET") or ""
    assert re.fullmatch(r"\$\{SIGNALWAY_JWT_SECRET:?\?[^}]*\}", value), (
        f"SIGNALWAY_JWT_SECRET must be `${{SIGNALWAY_JWT_SECRET:?...}}`, not {value!r}"
    )


def test_no_secret_is_hard_coded() -> None:
    secret_keys = {"SIGNALWAY_JWT_SECRET", "SIGNALWAY_TEMPORAL_API_KEY", "SIGNALWAY_API_KEYS",
                   "POSTGRES_PASSWORD", "POSTGRES_PWD"}
    for name in services():
        for key, value in environment(name).items():
            if key in secret_keys and value is not None:
                assert value.startswith("${"), f"{name}: {key} is hard-coded"


# --- ports and scaling ---------------------------------------------------------------------


def test_gateway_publishes_port_8000_and_listens_on_all_interfaces() -> None:
    env = environment("gateway")
    assert env.get("SIGNALWAY_PORT") == "8000"
    assert env.get("SIGNALWAY_HOST") == "0.0.0.0", "127.0.0.1 is unreachable from outside the container"
    assert ("8000", 8000) in published_ports("gateway")


def test_temporal_ui_publishes_8080() -> None:
    assert ("8080", 8080) in published_ports("temporal-ui")


def test_worker_is_scalable() -> None:
    worker = service("worker")
    assert not worker.get("ports"), "published ports clash under --scale"
    assert "container_name" not in worker, "a fixed container_name prevents --scale"
    assert "hostname" not in worker


def test_backing_services_are_not_published_to_the_host() -> None:
    for name in ("postgresql", "redis"):
        assert not service(name).get("ports"), f"{name} need not be reachable from the host"


def test_worker_stop_grace_period_covers_shutdown_grace() -> None:
    worker = service("worker")
    grace = float(environment("worker").get("SIGNALWAY_SHUTDOWN_GRACE_SECONDS")
                  or WorkerSettings.model_fields["shutdown_grace_seconds"].default)
    stop = parse_duration(worker.get("stop_grace_period", "10s"))
    assert stop > grace, f"Docker kills the worker after {stop}s, before its {grace}s drain"


@pytest.mark.parametrize("name", sorted(SETTINGS_OF))
def test_commands_are_real_cli_subcommands(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from signalway.cli import main

    argv = command_argv(name)
    assert argv == ["signalway", name]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("signalway") == "signalway.cli:main"
    with pytest.raises(SystemExit) as exit_info:
        main([*argv[1:], "--help"])
    assert exit_info.value.code == 0
    capsys.readouterr()


# --- persistence and mounts ----------------------------------------------------------------


def test_redis_runs_with_appendonly_and_persists_data() -> None:
    argv = command_argv("redis")
    assert argv[0] == "redis-server"
    assert "--appendonly" in argv and argv[argv.index("--appendonly") + 1] == "yes"
    data = [m for m in mounts("redis") if m["target"] == "/data"]
    assert data and data[0]["type"] == "volume" and data[0]["source"]


def test_postgresql_persists_data() -> None:
    data = [m for m in mounts("postgresql") if m["target"] == "/var/lib/postgresql/data"]
    assert data and data[0]["type"] == "volume" and data[0]["source"]


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(compose().get("volumes") or {})
    used = {m["source"] for name in services() for m in mounts(name)
            if m["type"] == "volume" and m["source"]}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_bind_mount_sources_exist_in_the_repository() -> None:
    for name in services():
        for m in mounts(name):
            if m["type"] == "bind":
                path = host_path(m["source"])
                assert path.exists(), f"{name}: {m['source']} does not exist"
                assert path.is_relative_to(ROOT), f"{name}: mount {m['source']} leaves the repo"


def test_bind_mounts_of_configuration_are_read_only() -> None:
    for name in services():
        for m in mounts(name):
            if m["type"] == "bind":
                assert m["read_only"], f"{name}: mount {m['source']} read-only"


def test_dynamic_config_is_mounted_where_temporal_reads_it() -> None:
    configured = environment("temporal").get("DYNAMIC_CONFIG_FILE_PATH")
    assert configured
    path = PurePosixPath(configured)
    if not path.is_absolute():
        path = PurePosixPath("/etc/temporal") / path  # the image's working directory
    for m in mounts("temporal"):
        target = PurePosixPath(m["target"])
        if m["type"] == "bind" and (path == target or target in path.parents):
            host_file = host_path(m["source"]) / path.relative_to(target)
            break
    else:
        pytest.fail(f"nothing is mounted at {path}")
    assert host_file == (ROOT / "temporal-config/dynamicconfig/development.yaml").resolve()
    assert isinstance(yaml.safe_load(host_file.read_text()), dict)


# --- search attributes ---------------------------------------------------------------------


def setup_script(name: str = "temporal-setup") -> str:
    spec = service(name)
    entrypoint = spec.get("entrypoint")
    assert isinstance(entrypoint, list) and entrypoint[-1] == "-c", "run the setup as `sh -c`"
    command = spec["command"]
    script = command[0] if isinstance(command, list) else command
    assert isinstance(script, str)
    return script


def search_attributes_mount() -> tuple[str, Path]:
    """The container path the setup reads search-attributes.txt from, and the host file."""
    wanted = search_attributes.config_file().resolve()
    for m in mounts("temporal-setup"):
        if m["type"] != "bind":
            continue
        source = host_path(m["source"])
        if source == wanted:
            return m["target"], wanted
        if source == wanted.parent:
            return f"{m['target'].rstrip('/')}/{wanted.name}", wanted
    pytest.fail("temporal-config/search-attributes.txt is not mounted into temporal-setup")


def test_temporal_setup_is_one_shot() -> None:
    assert str(service("temporal-setup").get("restart", "no")) not in LONG_RUNNING_RESTARTS


def test_temporal_setup_reads_the_mounted_search_attributes_file() -> None:
    container_path, _ = search_attributes_mount()
    script = setup_script()
    assert container_path in script
    assert "temporal operator search-attribute create" in script


@pytest.mark.parametrize("name", ["temporal-setup", "temporal-schema"])
def test_setup_scripts_escape_dollars_from_compose(name: str) -> None:
    # Compose interpolates `$VAR` and `${VAR}` from the host; the script's own variables must be
    # written `$$VAR`, or they silently become empty strings.
    stray = setup_script(name).replace("$$", "")
    assert "$" not in stray, f"unescaped `$` in the {name} script"


def test_temporal_setup_namespace_matches_signalway_namespace() -> None:
    namespaces = set(re.findall(r"--namespace[ =](\S+)", setup_script()))
    expected = environment("gateway").get("SIGNALWAY_TEMPORAL_NAMESPACE") or str(
        CommonSettings.model_fields["temporal_namespace"].default
    )
    assert namespaces == {expected}


FAKE_TEMPORAL = """\
#!{python}
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_TEMPORAL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:3] == ["operator", "cluster", "health"]:
    sys.exit(0)
if args[:3] == ["operator", "namespace", "describe"]:
    sys.exit(0 if os.environ.get("FAKE_NAMESPACE") == "exists" else 1)
if args[:3] == ["operator", "namespace", "create"]:
    sys.exit(0)
if args[:3] == ["operator", "search-attribute", "create"]:
    name = args[args.index("--name") + 1]
    if name in os.environ.get("FAKE_EXISTING", "").split(","):
        print(f"Error: search attribute {{name}} already exists")
        sys.exit(1)
    if name in os.environ.get("FAKE_CONFLICT", "").split(","):
        print(f"Error: search attribute {{name}} already exists and has different type Keyword")
        sys.exit(1)
    if name in os.environ.get("FAKE_BROKEN", "").split(","):
        print("Error: connection refused")
        sys.exit(1)
    sys.exit(0)
sys.exit(3)
"""


def run_with_fake_tool(tmp_path: Path, tool: str, source: str, script: str, log_variable: str,
                       env: dict[str, str], fake: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run a compose one-shot's `script` with /bin/sh, its `tool` replaced by a fake (`source`)
    that logs each call's arguments (a JSON line each, to the file in `log_variable`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    fake_tool = bin_dir / tool
    fake_tool.write_text(source.format(python=sys.executable))
    fake_tool.chmod(fake_tool.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    log.touch()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", log_variable: str(log),
           **env, **{f"FAKE_{key.upper()}": value for key, value in fake.items()}}
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    return result, [json.loads(line) for line in log.read_text().splitlines()]


def run_setup(tmp_path: Path, **fake: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run the temporal-setup script against a fake `temporal` CLI."""
    container_path, host_file = search_attributes_mount()
    script = setup_script().replace("$$", "$").replace(container_path, str(host_file))
    return run_with_fake_tool(tmp_path, "temporal", FAKE_TEMPORAL, script, "FAKE_TEMPORAL_LOG",
                              {"TMPDIR": str(tmp_path), "TEMPORAL_ADDRESS": "fake:1"}, fake)


def created(calls: list[list[str]]) -> dict[str, str]:
    return {
        call[call.index("--name") + 1]: call[call.index("--type") + 1]
        for call in calls if call[:3] == ["operator", "search-attribute", "create"]
    }


def test_temporal_setup_registers_every_search_attribute(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path)
    assert result.returncode == 0, result.stderr
    assert created(calls) == search_attributes.read_config()
    assert created(calls) == {key.name: "Keyword" for key in search_attributes.ALL}
    for call in calls:
        if call[:3] == ["operator", "search-attribute", "create"]:
            assert call[call.index("--namespace") + 1] == "default"


def test_temporal_setup_creates_the_namespace_only_when_it_is_missing(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path)
    assert result.returncode == 0, result.stderr
    creates = [call for call in calls if call[:3] == ["operator", "namespace", "create"]]
    assert len(creates) == 1 and creates[0][creates[0].index("--namespace") + 1] == "default"
    assert calls.index(creates[0]) < min(i for i, c in enumerate(calls) if c[:2] == ["operator", "search-attribute"])
    again, calls = run_setup(tmp_path / "again", namespace="exists")
    assert again.returncode == 0, again.stderr
    assert not [call for call in calls if call[:3] == ["operator", "namespace", "create"]]


def test_temporal_setup_tolerates_already_registered_attributes(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path, existing="SignalwayProject,SignalwayApi")
    assert result.returncode == 0, result.stderr
    assert created(calls) == search_attributes.read_config(), "it must go on after `already exists`"


def test_temporal_setup_fails_when_a_type_conflicts(tmp_path: Path) -> None:
    result, _ = run_setup(tmp_path, conflict="SignalwayApi")
    assert result.returncode != 0
    assert "different type" in result.stderr


def test_temporal_setup_fails_on_other_errors(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path, broken="SignalwayApi")
    assert result.returncode != 0
    assert "connection refused" in result.stderr
    assert "SignalwayInteraction" not in created(calls), "it must stop at the first failure"


FAKE_SQL_TOOL = """\
#!{python}
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_SQL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
db = args[args.index("--db") + 1]
if args[-1] == "create" and db in os.environ.get("FAKE_EXISTING", "").split(","):
    print(f"Error: pq: database \\"{{db}}\\" already exists")
    sys.exit(1)
if os.environ.get("FAKE_BROKEN") == args[-1] or (len(args) > 2 and os.environ.get("FAKE_BROKEN") == args[-3]):
    print("Error: password authentication failed")
    sys.exit(1)
sys.exit(0)
"""


def run_schema_setup(tmp_path: Path, **fake: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run the temporal-schema script against a fake `temporal-sql-tool`."""
    return run_with_fake_tool(tmp_path, "temporal-sql-tool", FAKE_SQL_TOOL,
                              setup_script("temporal-schema").replace("$$", "$"), "FAKE_SQL_LOG",
                              {"SQL_PASSWORD": "pw"}, fake)


def _steps(calls: list[list[str]]) -> list[tuple[str, str, str]]:
    """(database, step, its argument) for each call of the sql tool."""
    found = []
    for call in calls:
        assert call[call.index("--plugin") + 1] == "postgres12" and call[call.index("--ep") + 1] == "postgresql"
        db = call[call.index("--db") + 1]
        rest = call[call.index("--db") + 2:]
        found.append((db, rest[0], rest[-1] if len(rest) > 1 else ""))
    return found


def test_temporal_schema_creates_and_updates_both_databases(tmp_path: Path) -> None:
    result, calls = run_schema_setup(tmp_path)
    assert result.returncode == 0, result.stderr
    root = "/etc/temporal/schema/postgresql/v12"
    assert _steps(calls) == [
        ("temporal", "create", ""), ("temporal", "setup-schema", "0.0"),
        ("temporal", "update-schema", f"{root}/temporal/versioned"),
        ("temporal_visibility", "create", ""), ("temporal_visibility", "setup-schema", "0.0"),
        ("temporal_visibility", "update-schema", f"{root}/visibility/versioned"),
    ]
    # The server reads the same databases with the same user and password.
    assert environment("temporal").get("POSTGRES_USER") == "temporal"
    assert environment("temporal-schema").get("SQL_PASSWORD") == environment("temporal").get("POSTGRES_PWD")


def test_temporal_schema_goes_on_over_existing_databases_and_stops_on_other_errors(tmp_path: Path) -> None:
    result, calls = run_schema_setup(tmp_path / "a", existing="temporal,temporal_visibility")
    assert result.returncode == 0, result.stderr
    assert len(_steps(calls)) == 6
    failed, calls = run_schema_setup(tmp_path / "b", broken="create")
    assert failed.returncode != 0 and "password authentication failed" in failed.stderr
    assert _steps(calls) == [("temporal", "create", "")]


# --- Dockerfile and .dockerignore ----------------------------------------------------------


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), args.strip()))
    return found


def instructions(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def test_dockerfile_uses_python_311_slim() -> None:
    assert DOCKERFILE.is_file()
    assert instructions("FROM")[-1].split()[0] == "python:3.11-slim"


def test_dockerfile_runs_as_non_root() -> None:
    users = instructions("USER")
    assert users, "the image must not run as root: add a USER line"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    order = [kw for kw, _ in dockerfile_instructions()]
    last_user = len(order) - 1 - order[::-1].index("USER")
    assert "CMD" not in order or order.index("CMD") > last_user, "USER must come before CMD"


def test_dockerfile_installs_the_runtime_set_from_the_lock() -> None:
    installs = [args for args in instructions("RUN") if "uv sync" in args]
    assert installs, "the image must install from uv.lock with `uv sync`"
    for args in installs:
        assert "--frozen" in args, "the lock is used as it is, never re-resolved"
        assert "--no-default-groups" in args and "--group" not in args, "no test tools"
        assert "--extra" not in args and "--all-extras" not in args, "no `local` CLI"
        assert "--no-editable" in args, args
    assert not [a for a in instructions("RUN") if re.search(r"pip install\s+(?:-\S+\s+)*\.", a)], \
        "pip would resolve the ranges again, not the lock"
    pinned_uv = re.search(r'uv==([\d.]+)', " ".join(instructions("RUN")))
    makefile_uv = re.search(r"UV_VERSION := ([\d.]+)", (ROOT / "Makefile").read_text())
    assert pinned_uv and makefile_uv and pinned_uv.group(1) == makefile_uv.group(1), \
        "the image and `make` install the same uv"


def test_dockerfile_copies_every_package_and_build_input() -> None:
    copied: set[str] = set()
    for args in instructions("COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        copied.update(p.rstrip("/") for p in parts[:-1])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    packages = {setuptools["package-dir"].get(p, p) for p in setuptools["packages"] if "." not in p}
    needed = packages | {"pyproject.toml", "uv.lock", pyproject["project"]["readme"], "temporal-config"}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    for path in copied:
        assert (ROOT / path).exists(), f"COPY {path}: no such file"


def test_dockerfile_defaults_to_the_gateway_on_port_8000() -> None:
    cmd = instructions("CMD")[-1]
    assert json.loads(cmd) == ["signalway", "gateway"], "exec form, so SIGTERM reaches the process"
    assert any("8000" in args.split() for args in instructions("EXPOSE"))


def test_dockerignore_excludes_local_state_but_not_build_inputs() -> None:
    patterns = {
        line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".venv", ".signalway", ".git", "tests"):
        assert excluded in patterns, f".dockerignore should exclude {excluded}"
    assert patterns & {"__pycache__", "**/__pycache__"}
    for args in instructions("COPY"):
        for path in [p for p in args.split() if not p.startswith("--")][:-1]:
            assert path.rstrip("/") not in patterns, f"{path} is copied but ignored"
