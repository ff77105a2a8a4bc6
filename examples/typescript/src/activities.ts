// The team's own activities: they run on the team's worker and queue, beside Signalway's steps
// (which run on Signalway's worker).
import { log } from '@temporalio/activity';

export async function summarize(input: { subject: string; decision: string; notes: string[] }): Promise<string> {
  log.info('summarizing a review', { subject: input.subject });
  return `${input.subject}: ${input.decision}` + (input.notes.length ? ` (${input.notes.join('; ')})` : '');
}
