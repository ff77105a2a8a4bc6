"""A payload codec for the tests: zlib-compresses every payload under its own encoding, as an
encryption codec would seal it; the gateway and the worker load it by its import path."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/test-zlib"


class ZlibCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": ENCODING}, data=zlib.compress(p.SerializeToString()))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.FromString(zlib.decompress(p.data)) if p.metadata.get("encoding") == ENCODING else p
                for p in payloads]
