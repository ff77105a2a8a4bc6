// Streams one conversation run with the published @vertesia/client, unchanged, until the run
// itself closes: streamMessages must resolve on its own (no client-posted COMPLETE). Prints
// {streamed, result} as JSON on stdout.
//
//     node stream_to_close.mjs <gateway url> <bearer token>

import { VertesiaClient } from '@vertesia/client';

console.log = (...args) => console.error(...args);  // the client logs as it streams

const [url, token] = process.argv.slice(2);
const client = new VertesiaClient({ serverUrl: url, storeUrl: url, tokenServerUrl: url, apikey: token });
const workflows = client.workflows;

const [{ workflow_id: wid, run_id: rid }] = await workflows.execute('ConversationWorkflow', { vars: {} });
const streamed = [];
const streaming = workflows.streamMessages(wid, rid, (message) => streamed.push(message));
await workflows.sendSignal(wid, rid, 'UserInput', { message: 'hello' });
await workflows.sendSignal(wid, rid, 'UserInput', { message: 'bye' });
let timer;
const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the stream did not end when the run completed')), 30_000);
});
const result = await Promise.race([streaming, timeout]).finally(() => clearTimeout(timer));
process.stdout.write(JSON.stringify({ ids: { workflow_id: wid, run_id: rid }, streamed, result: result ?? null }));
process.exit(0);
