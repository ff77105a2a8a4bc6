// Start the example workflow with the team's own Temporal client (not through Signalway) so
// that Signalway's gateway serves it:
//   node lib/start.js <project> '<input JSON>'    prints {"workflow_id", "run_id"}
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TASK_QUEUE as for the worker.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { signalwaySearchAttributes } from './client';
import { typescriptReview } from './workflows';

async function main(): Promise<void> {
  const [project, input] = process.argv.slice(2);
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
  try {
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    const handle = await client.workflow.start(typescriptReview, {
      taskQueue: process.env.TASK_QUEUE ?? 'typescript-example',
      workflowId: randomUUID(),
      args: [JSON.parse(input)],
      typedSearchAttributes: signalwaySearchAttributes(project, { initiatedBy: 'service:typescript-example' }),
    });
    console.log(JSON.stringify({ workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId }));
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
