"""Activities of the "webhook and wait" step: open the step, deliver the signed webhook."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import redis.asyncio as aioredis
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from signalway.resume import ResumeStore, resume_url, token_for
from workflows.webhook_wait import (
    DELIVER_WEBHOOK_ACTIVITY,
    OPEN_RESUME_STEP_ACTIVITY,
    DeliverWebhookInput,
    OpenResumeStepInput,
    ResumeStepOpened,
)


def _not_configured(name: str) -> ApplicationError:
    return ApplicationError(f"{name} is not set on the worker; webhook-and-wait steps need it",
                            type="NotConfigured", non_retryable=True)


class ResumeActivities:
    def __init__(self, redis: aioredis.Redis, http: httpx.AsyncClient, *, resume_secret: bytes | None,
                 webhook_secret: str | None, public_url: str) -> None:
        self._store = ResumeStore(redis)
        self._http = http
        self._secret = resume_secret
        self._webhook = Webhook(webhook_secret) if webhook_secret else None
        self._public_url = public_url

    @activity.defn(name=OPEN_RESUME_STEP_ACTIVITY)
    async def open_step(self, input: OpenResumeStepInput) -> ResumeStepOpened:
        if self._secret is None:
            raise _not_configured("SIGNALWAY_RESUME_SECRET")
        deadline_ms = int(input.deadline.timestamp() * 1000) if input.deadline else None
        nonce = await self._store.open(
            workflow_id=input.workflow_id, run_id=input.run_id, step=input.step, project=input.project,
            variables=dict(input.variables), deadline_ms=deadline_ms, secret=self._secret,
        )
        return ResumeStepOpened(nonce=nonce)

    @activity.defn(name=DELIVER_WEBHOOK_ACTIVITY)
    async def deliver(self, input: DeliverWebhookInput) -> None:
        if self._secret is None:
            raise _not_configured("SIGNALWAY_RESUME_SECRET")
        if self._webhook is None:
            raise _not_configured("SIGNALWAY_WEBHOOK_SECRET")
        body = json.dumps({
            "type": "webhook_and_wait",
            "resume_workflow_url": resume_url(self._public_url, token_for(self._secret, input.nonce)),
            "workflow_id": input.workflow_id,
            "run_id": input.run_id,
            "step": input.step,
            "variables": input.variables,
            "deadline": input.deadline.isoformat().replace("+00:00", "Z") if input.deadline else None,
        }, separators=(",", ":"))
        # One id for every attempt, so a receiver can drop a delivery it already processed.
        message_id = "msg_" + hashlib.sha256(f"{input.run_id}:{input.step}".encode()).hexdigest()[:24]
        now = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._webhook.sign(message_id, now, body),
            "user-agent": "Signalway-Webhooks/1",
        }
        try:
            response = await self._http.post(input.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ApplicationError(f"webhook to {input.url} failed: {exc!r}", type="WebhookUnreachable") from exc
        if response.status_code >= 300:
            raise ApplicationError(f"webhook to {input.url} answered {response.status_code}",
                                   type="WebhookRejected")
        activity.logger.info("webhook for step %s of run %s delivered (attempt %d)", input.step, input.run_id,
                             activity.info().attempt)
