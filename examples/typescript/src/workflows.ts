// The example workflow: publishes progress, waits on a resume URL and on an event trigger, and
// answers a signal (`note`) and a query (`status`) at any time.
import { ApplicationFailure, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from './activities';
import { publishUpdate, waitForEvent, webhookAndWait } from './signalway';

export interface ReviewInput { subject: string; webhook_url: string; event_key: string; timeout_secs?: number }
export interface ReviewStatus { stage: 'reviewing' | 'waiting_for_event' | 'done'; decision?: string; notes: string[] }

export const noteSignal = defineSignal<[{ text: string }]>('note');
export const statusQuery = defineQuery<ReviewStatus>('status');
// A step that fails because its time is up is an answer here; any other failure fails the run.
const timedOut = (err: unknown) => err instanceof ApplicationFailure && ['ResumeTimedOut', 'EventTimedOut'].includes(err.type ?? '');
// The team's own activities: on this worker's queue (no taskQueue given).
const { summarize } = proxyActivities<typeof activities>({ startToCloseTimeout: '10 seconds' });

export async function typescriptReview(input: ReviewInput): Promise<ReviewStatus & { event: unknown; summary: string }> {
  const status: ReviewStatus = { stage: 'reviewing', notes: [] };
  const timeoutMs = (input.timeout_secs ?? 3600) * 1000;
  setHandler(noteSignal, ({ text }) => { status.notes.push(text); });
  setHandler(statusQuery, () => status);

  await publishUpdate('PROGRESS', `Review of ${input.subject} started`, { stage: status.stage });
  const answer = await webhookAndWait(input.webhook_url, { decision: 'string' },
    { step: 'review', timeoutMs, prompt: `Approve ${input.subject}?` })
    .catch((err) => { if (timedOut(err)) return { decision: 'no answer' }; throw err; });
  status.decision = String(answer.decision);
  status.stage = 'waiting_for_event';
  await publishUpdate('PROGRESS', `Reviewed: ${status.decision}`, { stage: status.stage });
  const event = await waitForEvent(input.event_key, { timeoutMs })
    .catch((err) => { if (timedOut(err)) return null; throw err; });
  status.stage = 'done';
  await publishUpdate('PROGRESS', event === null ? 'No event' : `Event ${input.event_key} received`, { stage: status.stage });
  const summary = await summarize({ subject: input.subject, decision: status.decision, notes: status.notes });
  return { ...status, event, summary };
}
