// Starting a run with your own Temporal client, outside Signalway: the search attributes the
// gateway needs to serve it (docs/steps-contract.md#the-search-attributes-a-run-needs).
import { defineSearchAttributeKey, SearchAttributePair, SearchAttributeType } from '@temporalio/common';

const key = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);

/** The project the run belongs to, who may see it (`project`: everyone in the project;
 * `private`: its starter, `user:<sub>`, and the project's superadmins), and who started it. */
export function signalwaySearchAttributes(project: string, options: { visibility?: 'project' | 'private';
  initiatedBy?: string } = {}): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: key('SignalwayProject'), value: project },
    { key: key('SignalwayVisibility'), value: options.visibility ?? 'project' },
  ];
  if (options.initiatedBy) pairs.push({ key: key('SignalwayInitiatedBy'), value: options.initiatedBy });
  return pairs;
}
