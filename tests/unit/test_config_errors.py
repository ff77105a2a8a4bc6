"""A bad environment: one `configuration error:` line per problem, exit 2, no secret, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from signalway.gateway.settings import GatewaySettings

SHORT_JWT_SECRET = "short-secret-value-xyz"
BAD_API_KEYS = "not-json-secret-abc"
TEMPORAL_API_KEY = "tmprl-secret-key-" + "q" * 24
API_KEY = "sk_live_secret_key_0123456789"


def run(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the variables given: a developer's own SIGNALWAY_* must not change the outcome.
    base = {name: value for name, value in os.environ.items() if not name.startswith("SIGNALWAY_")}
    return subprocess.run([sys.executable, "-m", *command], env={**base, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def assert_config_errors(result: subprocess.CompletedProcess[str], expected: list[str], *secrets: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    for secret in secrets:
        assert secret not in output
    lines = result.stderr.splitlines()
    assert all(line.startswith("configuration error: ") for line in lines), output
    assert len(lines) == len(expected), output
    for line, prefix in zip(lines, expected, strict=True):
        assert line.startswith(prefix), output


def test_gateway_reports_each_bad_setting_without_its_value() -> None:
    result = run("signalway", "gateway", SIGNALWAY_JWT_SECRET=SHORT_JWT_SECRET, SIGNALWAY_API_KEYS=BAD_API_KEYS)
    assert_config_errors(result, [
        "configuration error: SIGNALWAY_JWT_SECRET: must be at least 32 bytes",
        "configuration error: SIGNALWAY_API_KEYS: must be a JSON object",
    ], SHORT_JWT_SECRET, BAD_API_KEYS)


def test_gateway_never_shows_secrets_next_to_another_bad_field() -> None:
    result = run("signalway", "gateway", SIGNALWAY_TEMPORAL_API_KEY=TEMPORAL_API_KEY, SIGNALWAY_PORT="http",
                 SIGNALWAY_API_KEYS=f'{{"{API_KEY}": 7}}', SIGNALWAY_TRUSTED_PROXIES="10.0.0.0/8, proxy.internal")
    assert_config_errors(result, [
        "configuration error: SIGNALWAY_PORT: ",
        "configuration error: SIGNALWAY_API_KEYS: ",
        "configuration error: SIGNALWAY_TRUSTED_PROXIES: entry 2 is not a network",
    ], TEMPORAL_API_KEY, API_KEY, "proxy.internal")


def test_gateway_without_credentials_says_what_to_configure() -> None:
    assert_config_errors(run("signalway.gateway"), ["configuration error: configure SIGNALWAY_JWT_SECRET"])


@pytest.mark.parametrize("command", [("signalway", "worker"), ("signalway.worker",)])
def test_worker_reports_bad_settings_the_same_way(command: tuple[str, ...]) -> None:
    result = run(*command, SIGNALWAY_TEMPORAL_API_KEY=TEMPORAL_API_KEY, SIGNALWAY_RESUME_SECRET=SHORT_JWT_SECRET)
    assert_config_errors(result, ["configuration error: SIGNALWAY_RESUME_SECRET must be at least 32 bytes"],
                         TEMPORAL_API_KEY, SHORT_JWT_SECRET)


def test_api_keys_stay_out_of_repr_and_validation_errors() -> None:
    settings = GatewaySettings(api_keys={API_KEY: "alpha"})
    assert API_KEY not in repr(settings) and API_KEY not in str(settings)
    with pytest.raises(ValidationError) as caught:
        GatewaySettings(api_keys=f'{{"{API_KEY}": 7}}', temporal_api_key=TEMPORAL_API_KEY, port="x")
    assert API_KEY not in str(caught.value) and TEMPORAL_API_KEY not in str(caught.value)


def test_trusted_proxies_read_as_comma_separated_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32,")
    settings = GatewaySettings(api_keys={API_KEY: "alpha"})
    assert settings.trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("192.0.2.7/32"),
                                        ip_network("2001:db8::/32"))
    assert GatewaySettings(api_keys={API_KEY: "alpha"}, trusted_proxies="").trusted_proxies == ()


def test_a_misspelt_variable_is_named_beside_the_error_it_causes() -> None:
    result = run("signalway", "gateway", SIGNALWAY_JWT_SECRETS=SHORT_JWT_SECRET)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "warning: SIGNALWAY_JWT_SECRETS is not a Signalway setting and is ignored; "
        "did you mean SIGNALWAY_JWT_SECRET?",
        "configuration error: configure SIGNALWAY_JWT_SECRET, SIGNALWAY_JWT_PUBLIC_KEY, "
        "SIGNALWAY_JWT_JWKS_URL or SIGNALWAY_API_KEYS",
    ]
    assert SHORT_JWT_SECRET not in result.stderr
