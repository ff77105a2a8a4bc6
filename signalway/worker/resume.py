"""Activities of the "webhook and wait" step: open the step, deliver the signed webhook, and
move the step's deadline when the workflow extends it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from signalway import tracing
from signalway.redis_connect import RedisClient
from signalway.resume import ResumeStore, resume_url, token_for
from signalway.steps.contract import (
    DELIVER_WEBHOOK_ACTIVITY,
    EXTEND_RESUME_STEP_ACTIVITY,
    OPEN_RESUME_STEP_ACTIVITY,
    DeliverWebhookInput,
    ExtendResumeStepInput,
    OpenResumeStepInput,
    ResumeStepOpened,
)
from signalway.times import rfc3339_ms
from signalway.webhook_targets import IPNetwork, WebhookTargetRefused, resolve_target
from signalway.worker.metrics import WorkerMetrics

# The outcome label of `signalway_webhook_deliveries_total` for each failure type raised below.
# (A redirect is `rejected`: it is an answer, and it is not followed.)
_OUTCOMES = {"NotConfigured": "not_configured", "WebhookTargetNotAllowed": "refused",
             "WebhookRejected": "rejected", "WebhookUnreachable": "unreachable"}


def _not_configured(name: str) -> ApplicationError:
    return ApplicationError(f"{name} is not set on the worker; webhook-and-wait steps need it",
                            type="NotConfigured", non_retryable=True)


class ResumeActivities:
    def __init__(self, redis: RedisClient, http: httpx.AsyncClient, *, resume_secret: bytes | None,
                 webhook_secret: str | None, public_url: str,
                 allowed_networks: Sequence[IPNetwork] = (), metrics: WorkerMetrics | None = None) -> None:
        self._store = ResumeStore(redis)
        self._metrics = metrics
        self._http = http
        self._allowed = tuple(allowed_networks)
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
            variables=dict(input.variables), deadline_ms=deadline_ms, secret=self._secret, prompt=input.prompt,
        )
        return ResumeStepOpened(nonce=nonce)

    @activity.defn(name=EXTEND_RESUME_STEP_ACTIVITY)
    async def extend_step(self, input: ExtendResumeStepInput) -> None:
        outcome = await self._store.extend_step(input.run_id, input.step,
                                                deadline_ms=int(input.deadline.timestamp() * 1000))
        if outcome != "ok":
            # Resumed, revoked, expired or gone from Redis: moving it would change nothing.
            why = "has no resume URL record" if outcome == "missing" else f"is {outcome}"
            raise ApplicationError(why, type="ResumeStepNotWaiting", non_retryable=True)

    @activity.defn(name=DELIVER_WEBHOOK_ACTIVITY)
    async def deliver(self, input: DeliverWebhookInput) -> None:
        outcome = "delivered"
        try:
            await self._deliver(input)
        except ApplicationError as exc:
            outcome = _OUTCOMES.get(exc.type or "", "error")
            raise
        except BaseException:  # a bug, or the attempt cancelled (worker shutdown, timeout)
            outcome = "error"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.webhook(outcome, activity.info().attempt)

    async def _deliver(self, input: DeliverWebhookInput) -> None:
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
            "deadline": rfc3339_ms(input.deadline),
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
        # With tracing on, the delivery activity's span: a receiver that propagates it (into its
        # call of the resume URL, say) continues this run's trace.
        tracing.inject(headers)
        # Checked at every attempt, against the address actually connected to: DNS may have
        # changed since the run started, and the gateway's check at start is not the last word.
        try:
            target = await resolve_target(input.url, self._allowed)
        except WebhookTargetRefused as exc:
            raise ApplicationError(str(exc), type="WebhookTargetNotAllowed", non_retryable=True) from None
        headers["host"] = target.host_header
        # Every webhook connection is a new one: the pool keys connections by IP alone, so a kept
        # one TLS-verified for another host name would carry this host's webhook.
        headers["connection"] = "close"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        # Failures name the host and what went wrong, never what answered (no exception text,
        # no body): the run's lastFailure is visible to whoever chose the URL. No `from exc`
        # either, as the cause chain is recorded with the failure.
        failed = f"webhook delivery to {target.host} failed"
        try:
            request = self._http.build_request("POST", target.connect_url, content=body, headers=headers,
                                               extensions=extensions)
            # Streamed and closed unread: the receiver's body is neither wanted nor bounded.
            response = await self._http.send(request, stream=True, follow_redirects=False)
            await response.aclose()
        except httpx.TimeoutException as exc:
            activity.logger.warning("%s: %r", failed, exc)
            raise ApplicationError(f"{failed}: timed out", type="WebhookUnreachable") from None
        except httpx.HTTPError as exc:
            activity.logger.warning("%s: %r", failed, exc)
            raise ApplicationError(f"{failed}: connection failed", type="WebhookUnreachable") from None
        if 300 <= response.status_code < 400:
            raise ApplicationError(f"{failed}: answered HTTP {response.status_code}; redirects are not followed",
                                   type="WebhookRejected")
        if response.status_code >= 400:
            raise ApplicationError(f"{failed}: answered HTTP {response.status_code}", type="WebhookRejected")
        activity.logger.info("webhook for step %s of run %s delivered (attempt %d)", input.step, input.run_id,
                             activity.info().attempt)
