// Signalway's three steps for a Temporal TypeScript workflow, on the wire contract of
// docs/steps-contract.md: activities that Signalway's own worker serves on its task queue, and
// the two signals (`signalway_resume`, `signalway_trigger`) the gateway sends the waiting run.
// Workflow code: import it only from workflows (it runs inside the workflow sandbox).
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Signalway's worker queue (SIGNALWAY_TASK_QUEUE there): a constant, as workflow code reads no
// environment; change it here if your Signalway worker runs on another queue.
export const SIGNALWAY_TASK_QUEUE = 'signalway';
// The run's project: the gateway records it on every run it starts (docs/steps-contract.md).
const PROJECT = defineSearchAttributeKey('SignalwayProject', SearchAttributeType.KEYWORD);
const DAY_MS = 24 * 3600 * 1000;

export type VariableType = 'string' | 'number' | 'boolean' | 'file';
interface ResumeSignal { step: string; action: 'resume' | 'revoke' | 'extend'; variables?: Record<string, unknown> | null; deadline?: string | null }
interface TriggerMessage { event_key: string; action: 'received' | 'canceled'; payload?: unknown; recorded?: boolean }
interface Activities {
  publishUpdate(input: { run_id: string; type: string; message?: string | null; details?: unknown; workstream_id?: string | null }): Promise<void>;
  openResumeStep(input: { workflow_id: string; run_id: string; step: string; project: string | null; variables: Record<string, VariableType>; deadline: string; prompt: string | null }): Promise<{ nonce: string }>;
  deliverWebhook(input: { url: string; nonce: string; workflow_id: string; run_id: string; step: string; variables: Record<string, VariableType>; deadline: string }): Promise<void>;
  registerTrigger(input: { project: string; trigger_id: string; event_key: string; workflow_id: string; run_id: string; step_run_id: string; request_payload: unknown; timeout_secs: number; requested_at: string; expires_at: string }): Promise<{ status: string; payload?: unknown }>;
  settleTrigger(input: { project: string; trigger_id: string; event_key: string; status: 'received' | 'timed_out' | 'canceled'; payload?: unknown; error?: string | null }): Promise<void>;
}

const steps = proxyActivities<Activities>({ taskQueue: SIGNALWAY_TASK_QUEUE, startToCloseTimeout: '10 seconds' });
const resumeSignal = defineSignal<[ResumeSignal]>('signalway_resume');
const triggerSignal = defineSignal<[TriggerMessage]>('signalway_trigger');

// This run's messages: module state is per run in the TypeScript SDK (each run evaluates the
// workflow bundle afresh). Handlers are set at a step's first use.
const resumes = new Map<string, ResumeSignal>(); // per step: its outcome (resume/revoke), else its latest extend
const events = new Map<string, TriggerMessage>(); // per event key: the first outcome
const opened = new Set<string>(); // this run's resume steps

function project(): string | undefined {
  return workflowInfo().typedSearchAttributes.get(PROJECT);
}

/** Publish a progress message for this run (GET …/runs/{wid}/{rid}/updates shows it). */
export async function publishUpdate(type: string, message?: string, details?: unknown, workstreamId?: string): Promise<void> {
  await steps.publishUpdate({ run_id: workflowInfo().runId, type, message, details, workstream_id: workstreamId });
}

/** POST a signed webhook carrying a resume URL to `url`, then wait for the URL to be answered:
 * the variables it was answered with. Throws ApplicationFailure `ResumeTimedOut` at the deadline,
 * `ResumeRevoked` when an operator revoked the URL; an operator's extend moves the deadline. */
export async function webhookAndWait(url: string, variables: Record<string, VariableType>,
  options: { timeoutMs?: number; step?: string; prompt?: string } = {}): Promise<Record<string, unknown>> {
  const settled = (step: string) => ['resume', 'revoke'].includes(resumes.get(step)?.action ?? '');
  setHandler(resumeSignal, (m) => { if (!settled(m.step)) resumes.set(m.step, m); });
  const { workflowId: workflow_id, runId: run_id } = workflowInfo();
  const step = options.step ?? `step-${opened.size + 1}`;
  if (opened.has(step)) throw ApplicationFailure.nonRetryable(`resume step '${step}' already used in this run`, 'DuplicateStep');
  opened.add(step);
  let deadline = Date.now() + (options.timeoutMs ?? 30 * DAY_MS);
  const { nonce } = await steps.openResumeStep({ workflow_id, run_id, step, project: project() ?? null, variables,
    deadline: new Date(deadline).toISOString(), prompt: options.prompt ?? null });
  const delivery = new CancellationScope();
  const delivered = delivery.run(() => proxyActivities<Activities>({
    taskQueue: SIGNALWAY_TASK_QUEUE, startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: Math.max(deadline - Date.now(), 1000),
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '60 seconds' },
  }).deliverWebhook({ url, nonce, workflow_id, run_id, step, variables, deadline: new Date(deadline).toISOString() }))
    .catch(() => undefined); // given up at the deadline, or cancelled below: the wait decides
  try {
    for (;;) {
      const message = resumes.get(step);
      if (message?.action === 'resume') return message.variables ?? {};
      if (message?.action === 'revoke') throw ApplicationFailure.nonRetryable(`resume step '${step}' was revoked`, 'ResumeRevoked');
      if (message?.action === 'extend' && message.deadline) deadline = Date.parse(message.deadline);
      if (deadline <= Date.now()) throw ApplicationFailure.nonRetryable(`resume step '${step}' timed out`, 'ResumeTimedOut');
      await condition(() => resumes.get(step) !== message, deadline - Date.now());
    }
  } finally {
    delivery.cancel();
    await delivered;
  }
}

/** Wait for the event `eventKey` (POST /v1/events/{eventKey}/send) and return its payload.
 * Throws ApplicationFailure `EventTimedOut` after the timeout, `EventCanceled` when the trigger
 * was cancelled (DELETE /v1/events/{eventKey}); cancelling the run cancels the trigger. */
export async function waitForEvent<T = unknown>(eventKey: string,
  options: { timeoutMs?: number; requestPayload?: unknown } = {}): Promise<T> {
  setHandler(triggerSignal, (m) => { if (!events.has(m.event_key)) events.set(m.event_key, m); });
  const info = workflowInfo();
  const runProject = project();
  if (!runProject) throw ApplicationFailure.nonRetryable('the run has no SignalwayProject search attribute', 'NoProject');
  const timeoutMs = options.timeoutMs ?? 30 * DAY_MS;
  const requested = Date.now();
  const expires = requested + timeoutMs;
  const trigger = { project: runProject, trigger_id: uuid4(), event_key: eventKey };
  const settle = (status: 'received' | 'timed_out' | 'canceled', payload?: unknown, error?: string) =>
    CancellationScope.nonCancellable(() => steps.settleTrigger({ ...trigger, status, payload, error }));
  const register = async () => {
    const registered = await steps.registerTrigger({ ...trigger, workflow_id: info.workflowId, run_id: info.runId,
      step_run_id: `${info.runId}:${eventKey}`, request_payload: options.requestPayload ?? null,
      timeout_secs: timeoutMs / 1000, requested_at: new Date(requested).toISOString(),
      expires_at: new Date(expires).toISOString() });
    if (registered.status === 'conflict') throw ApplicationFailure.nonRetryable(`another run already waits for '${eventKey}'`, 'EventKeyInUse');
    if (registered.status === 'received' && !events.has(eventKey)) events.set(eventKey, { event_key: eventKey, action: 'received', payload: registered.payload });
  };
  try {
    await register();
    // Re-registered every 5 minutes (idempotent), so the trigger survives a Redis that lost it.
    while (!events.has(eventKey)) {
      if (Date.now() >= expires) {
        await settle('timed_out', undefined, 'timed out');
        throw ApplicationFailure.nonRetryable(`no event '${eventKey}' arrived in time`, 'EventTimedOut');
      }
      if (!await condition(() => events.has(eventKey), Math.min(expires - Date.now(), 5 * 60 * 1000)) && Date.now() < expires) await register();
    }
  } catch (err) {
    if (isCancellation(err)) await settle('canceled', undefined, 'workflow canceled');
    throw err;
  }
  const outcome = events.get(eventKey)!;
  events.delete(eventKey);
  if (outcome.action === 'canceled') throw ApplicationFailure.nonRetryable(`the wait for '${eventKey}' was canceled`, 'EventCanceled');
  if (outcome.recorded === false) await settle('received', outcome.payload);
  return outcome.payload as T;
}
