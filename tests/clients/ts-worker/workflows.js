const { defineSignal, defineQuery, setHandler, condition } = require('@temporalio/workflow');

const approve = defineSignal('approve');
const status = defineQuery('status');

async function TsOrderWorkflow(order) {
  let by = null;
  setHandler(approve, (body) => { by = body.by; });
  setHandler(status, () => (by ? 'approved' : 'waiting'));
  await condition(() => by !== null);
  return { order_id: order.order_id, approved_by: by };
}

module.exports = { TsOrderWorkflow };
