"""Temporal client construction shared by the gateway and the worker."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from signalway import tracing
from signalway.settings import CommonSettings


def load_codec(target: str) -> PayloadCodec:
    """The payload codec `module:attr` names: a `PayloadCodec`, or a class or factory that
    makes one when called without arguments. A ValueError says what is wrong."""
    module_name, _, attr = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load {target!r}: {exc}") from None
    if not isinstance(value, PayloadCodec) and callable(value):
        try:
            value = value()
        except Exception as exc:
            raise ValueError(f"{target!r} failed when called: {type(exc).__name__}: {exc}") from None
    if not isinstance(value, PayloadCodec):
        raise ValueError(f"{target!r} is not a temporalio.converter.PayloadCodec (nor makes one)")
    return value


def data_converter(settings: CommonSettings) -> DataConverter:
    """The pydantic data converter, with the settings' payload codec when one is given."""
    if not settings.temporal_payload_codec:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=load_codec(settings.temporal_payload_codec))


def connect_options(settings: CommonSettings, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Where and how to connect: Temporal's environment configuration (`temporalio.envconfig`:
    `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, the profile
    `TEMPORAL_PROFILE` names in `temporal.toml` / `TEMPORAL_CONFIG_FILE`), under the
    `SIGNALWAY_TEMPORAL_*` settings that are set, which win.

    Returns `Client.connect` keyword arguments: target_host, namespace, api_key, tls, rpc_metadata.
    """
    profile = ClientConfigProfile.load(override_env_vars=env)
    config: dict[str, Any] = dict(profile.to_client_connect_config())
    given = settings.model_fields_set
    if "temporal_address" in given or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in given or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    if settings.temporal_api_key is not None:
        config["api_key"] = settings.temporal_api_key.get_secret_value()
    tls: bool | TLSConfig = config.get("tls", False)
    if "temporal_tls" in given:
        # The flag turns TLS on or off; certificates the profile names are kept when on.
        tls = (tls if isinstance(tls, TLSConfig) else True) if settings.temporal_tls else False
    if config.get("api_key") and tls is False and "temporal_tls" not in given:
        tls = True  # an API key implies TLS, as before
    config["tls"] = tls
    return config


async def connect(settings: CommonSettings, *, lazy: bool = False, identity: str | None = None,
                  interceptors: Sequence[Interceptor] = (), runtime: Runtime | None = None) -> Client:
    """Connect with the pydantic data converter, so payloads are the workflows' own models.

    Address, namespace, API key and TLS (mTLS client certificate and key, server CA) come from
    `connect_options`: Temporal's environment configuration under Signalway's own settings.
    A payload codec (`SIGNALWAY_TEMPORAL_PAYLOAD_CODEC`) wraps every payload this client and a
    worker built on it write, and unwraps what they read.

    With tracing on (`signalway.tracing`), the Temporal SDK's tracing interceptor comes first:
    client calls get CLIENT spans whose context travels in the calls' headers, and a worker
    built on this client (its interceptors apply to workers too) continues that trace in its
    workflow and activity spans. Off, no interceptor is added.
    """
    options = connect_options(settings)
    return await Client.connect(
        options.pop("target_host"),
        **options,
        data_converter=data_converter(settings),
        interceptors=[*tracing.temporal_interceptors(), *interceptors],
        lazy=lazy,
        identity=identity,
        runtime=runtime,
    )


def metrics_runtime(address: str | None) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics (and meters made from it) at
    `http://<address>/metrics`; None (the default runtime, no metrics) without an address.

    Counters end in `_total` and durations are seconds, as Prometheus names them, so the SDK's
    series sit beside Signalway's own in one naming scheme.
    """
    if not address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=address, counters_total_suffix=True, durations_as_seconds=True, unit_suffix=True)))
