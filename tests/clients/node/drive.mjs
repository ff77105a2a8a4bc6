// Drives the published @vertesia/client, unchanged, against a Signalway gateway, the way an
// application would: one conversation run through execute, signal, query, the updates (GET,
// post, SSE stream), the lists, the details and cancel. Prints one JSON object of what it saw
// on stdout; tests/e2e/test_vertesia_clients.py asserts on it.
//
//     node drive.mjs <gateway url> <bearer token>

import { VertesiaClient } from '@vertesia/client';

// The client logs to the console as it streams; stdout carries the result only.
console.log = (...args) => console.error(...args);

const [url, token] = process.argv.slice(2);
const client = new VertesiaClient({ serverUrl: url, storeUrl: url, tokenServerUrl: url, apikey: token });
const workflows = client.workflows;
const seen = {};

async function eventually(what, probe, seconds = 20) {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
}

function within(promise, seconds, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), seconds * 1000);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const documentId = `node-doc-${Date.now()}-${Math.random().toString(36).slice(2)}`;
const started = await workflows.execute('ConversationWorkflow', { vars: {}, objectIds: [documentId] });
const { workflow_id: wid, run_id: rid } = started[0];
seen.execute = started;

seen.signal = await workflows.sendSignal(wid, rid, 'UserInput', { message: 'hello from node' });
seen.query = await eventually('the turn to be counted', async () => {
    const turns = await workflows.query(wid, rid, 'get_turns');
    return turns >= 1 ? turns : undefined;
});
// The workflow's own answer, read back through the GET the stream starts with.
seen.answered = await eventually('the answer', async () => {
    const messages = await workflows.retrieveMessages(wid, rid);
    return messages.some((m) => m.message === 'echo: hello from node') ? messages : undefined;
});

// streamMessages: the backlog by GET, then SSE; it ends by itself on a COMPLETE update. The
// updates are posted once the backlog is in, so they can only come through the SSE stream.
const streamed = [];
const streaming = workflows.streamMessages(wid, rid, (message) => streamed.push(message));
await eventually('the backlog', async () => (streamed.length > 0 ? true : undefined));
const sent = Date.now();
seen.post = await workflows.postMessage(rid, {
    timestamp: sent, workflow_run_id: rid, type: 7, message: 'posted by node',
    details: { tool: 'node-test', tool_status: 'completed' }, workstream_id: 'research',
});
await workflows.postMessage(rid, { timestamp: Date.now(), workflow_run_id: rid, type: 4, message: 'done' });
seen.stream_result = (await within(streaming, 30, 'the stream to end on COMPLETE')) ?? null;
seen.streamed = streamed;
seen.retrieved = await workflows.retrieveMessages(wid, rid);
seen.retrieved_since = await workflows.retrieveMessages(wid, rid, sent - 1);

seen.search = await workflows.searchRuns({ search_term: rid });
// listRuns sends its filters in camelCase ({documentId, eventName, ruleId}).
seen.list_runs = await workflows.listRuns(documentId, undefined, undefined);
seen.conversations = await workflows.listConversations({ search_term: rid, interaction: 'default' });
seen.details = await workflows.getRunDetails(rid, wid, { includeHistory: true, historyFormat: 'events' });

seen.cancel = await workflows.cancel(wid, rid, 'the node test is done');
seen.after_cancel = await eventually('the run to be cancelled', async () => {
    const run = await workflows.getRunDetails(rid, wid, { includeHistory: false });
    return run.status === 'CANCELED' ? run : undefined;
});
seen.ids = { workflow_id: wid, run_id: rid, document_id: documentId };

process.stdout.write(JSON.stringify(seen));
// The client's SSE keeps timers of its own for a while; the result is out, so end here.
process.exit(0);
