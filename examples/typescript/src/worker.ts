// The example's worker: its own task queue, on the Temporal server Signalway uses.
//   TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default "default"),
//   TASK_QUEUE (default "typescript-example").
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities';

async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
  try {
    const worker = await Worker.create({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: process.env.TASK_QUEUE ?? 'typescript-example',
      workflowsPath: require.resolve('./workflows'),
      activities,
    });
    await worker.run(); // until SIGINT or SIGTERM
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
