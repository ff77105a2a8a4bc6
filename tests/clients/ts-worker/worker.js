const { Worker, NativeConnection } = require('@temporalio/worker');

async function main() {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection, namespace: 'default', taskQueue: process.env.TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
  });
  console.log('worker ready');
  await worker.run();
}

main().catch((err) => { console.error(err); process.exit(1); });
