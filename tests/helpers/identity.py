"""An identity provider of the tests' own: signing keys, the JWKS document that publishes them
(served on loopback, counting its fetches), and the forged tokens an attacker would try."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class SigningKey:
    """A provider's private key and the public JWK it publishes for it."""

    kid: str
    alg: str
    private: Any
    jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], *, alg: str | None = None, **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers={"kid": self.kid, **header})


def _published(public_jwk: dict[str, Any], kid: str, alg: str | None) -> dict[str, Any]:
    return {**public_jwk, "kid": kid, "use": "sig", **({"alg": alg} if alg else {})}


def rsa_key(kid: str, alg: str = "RS256", *, publish_alg: bool = True) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return SigningKey(kid, alg, private, _published(jwk, kid, alg if publish_alg else None))


def ec_key(kid: str) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid, "ES256", private, _published(ECAlgorithm.to_jwk(private.public_key(), as_dict=True),
                                                        kid, "ES256"))


def ed25519_key(kid: str) -> SigningKey:
    private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, "EdDSA", private, _published(OKPAlgorithm.to_jwk(private.public_key(), as_dict=True),
                                                        kid, None))


def claims(**overrides: Any) -> dict[str, Any]:
    """A token's claims valid for 10 minutes from now."""
    now = int(time.time())
    return {"iat": now, "exp": now + 600, **overrides}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(body: dict[str, Any], **header: Any) -> str:
    """`alg: none`: no signature at all."""
    head = _b64(json.dumps({"alg": "none", "typ": "JWT", **header}).encode())
    return f"{head}.{_b64(json.dumps(body).encode())}."


def hmac_token(secret: bytes, body: dict[str, Any], **header: Any) -> str:
    """HS256 with any bytes as the secret (PyJWT refuses to sign with a public key; an attacker does not)."""
    signing_input = (f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', **header}).encode())}."
                     f"{_b64(json.dumps(body).encode())}")
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class JwksServer:
    """Serves `{"keys": [...]}` at `url` with `Cache-Control: max-age=<max_age>`, counting fetches."""

    max_age: int = 300
    documents: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: list[float] = field(default_factory=list)  # time.monotonic() of each fetch
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, *keys: SigningKey | dict[str, Any]) -> float:
        """Serve these keys from now on; returns when (time.monotonic())."""
        document = {"keys": [k.jwk if isinstance(k, SigningKey) else k for k in keys]}
        with self._lock:
            self.documents.append(document)
            return time.monotonic()

    @property
    def fetches(self) -> int:
        with self._lock:
            return len(self.fetched_at)

    def _answer(self) -> bytes:
        with self._lock:
            self.fetched_at.append(time.monotonic())
            return json.dumps(self.documents[-1] if self.documents else {"keys": []}).encode()

    @contextmanager
    def serving(self) -> Iterator[JwksServer]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                body = server._answer()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Cache-Control", f"public, max-age={server.max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        # A thread of its own: the gateway under test fetches while the test's event loop is busy.
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}{JWKS_PATH}"
        thread = threading.Thread(target=httpd.serve_forever, name="jwks-server", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
