"""Temporal client construction shared by the gateway and the worker."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from signalway.settings import CommonSettings


async def connect(settings: CommonSettings, *, lazy: bool = False, identity: str | None = None) -> Client:
    """Connect with the pydantic data converter, so payloads are the workflows' own models."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or api_key is not None,
        data_converter=pydantic_data_converter,
        lazy=lazy,
        identity=identity,
    )
