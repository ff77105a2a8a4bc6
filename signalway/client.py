"""A small Python client for Signalway, making the same calls as the clients these APIs already have."""

from __future__ import annotations

from typing import Any

import httpx


class SignalwayError(Exception):
    """An error answer: its status, and the problem's `detail` (what exactly is wrong)."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body


class Client:
    """`Client(base_url, api_key=...)`; `resume_workflow` needs no credential (the URL is one)."""

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, token: str | None = None,
                 timeout: float = 30, transport: httpx.BaseTransport | None = None) -> None:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif api_key:
            headers["Authorization"] = api_key
        self._http = httpx.Client(base_url=base_url or "", headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def resume_workflow(self, resume_url: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST the variables to a resume URL from a "webhook and wait" payload."""
        request = self._http.build_request("POST", resume_url, json={"variables": variables})
        # The resume URL is its own credential: no Authorization is sent with it.
        request.headers.pop("authorization", None)
        return self._answer(self._http.send(request))

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise SignalwayError(response.status_code, str(detail or response.reason_phrase), body)
        if not isinstance(body, dict):
            raise SignalwayError(response.status_code, "expected a JSON object", body)
        return body
