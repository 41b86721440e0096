'use strict';
// The Node side of TestFluentNodeClient: sends <count> records to the Fluent
// Forward input on 127.0.0.1:<port> with the npm fluent-logger package
// (CompressedPackedForward, requireAckResponse, shared-key handshake), in
// rounds of <round> records. A record whose chunk was not acknowledged is
// emitted again with the same idempotency_key, until every record is
// acknowledged. Every tenth record is invalid (item_id not a number).
//
// Usage: node fluent_client.js <port> <shared key> <count> <round>
// Prints "acked <n> resent <m>" and exits 0 when every record is acked.

const fluent = require('fluent-logger');

const [port, sharedKey, count, round] = [
  Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5] || 500),
];

const sender = fluent.createFluentSender('clickstream', {
  host: '127.0.0.1',
  port: port,
  timeout: 3.0,
  eventMode: 'CompressedPackedForward',
  requireAckResponse: true,
  ackResponseTimeout: 2000,
  reconnectInterval: 100,
  flushInterval: 10,
  security: { clientHostname: 'node-client', sharedKey: sharedKey },
  internalLogger: { info() {}, error() {} },
});
sender.on('error', () => {}); // reconnects after reconnectInterval

function record(i) {
  const r = {
    idempotency_key: 'node-' + i,
    'context.user_id': 'u-42',
    'context.device_id': 'd-1',
    'context.platform': 'android',
    'context.app_version': '7.12.0',
    item_id: 1000 + i,
    category_id: 24,
    referrer: 'rec-' + i,
    price: { amount_minor: 129900, currency: 'EUR' },
  };
  if (i % 10 === 9) {
    r.item_id = 'not-a-number';
  }
  return r;
}

let resent = 0;

// send emits record i and resolves once its chunk is acknowledged, emitting
// it again (same idempotency_key) as long as it is not.
function send(i) {
  return new Promise((resolve) => {
    const attempt = () => {
      let settled = false;
      sender.emit('item_view.v2', record(i), (err) => {
        if (settled) {
          return;
        }
        settled = true;
        if (err) {
          resent++;
          setTimeout(attempt, 50);
          return;
        }
        resolve();
      });
    };
    attempt();
  });
}

async function main() {
  const deadline = setTimeout(() => {
    console.error('timed out');
    process.exit(2);
  }, 240000);
  for (let from = 0; from < count; from += round) {
    const pending = [];
    for (let i = from; i < Math.min(from + round, count); i++) {
      pending.push(send(i));
    }
    await Promise.all(pending);
  }
  clearTimeout(deadline);
  console.log('acked ' + count + ' resent ' + resent);
  sender.end();
  process.exit(0);
}

main();
