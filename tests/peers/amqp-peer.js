'use strict';
/*
 * tracegap end-to-end test peer: REAL AMQP 0-9-1 clients (amqplib) in three roles.
 *
 *   node amqp-peer.js --role publish  --url AMQP_URL --queue Q --count N
 *                     --context valid|none|malformed [--name NAME]
 *   node amqp-peer.js --role service  --url AMQP_URL --queue Q --port P
 *                     [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]
 *   node amqp-peer.js --role consumer --url AMQP_URL --queue Q --downstream HTTP_URL
 *                     [--mode forward|drop] [--prefetch K] [--name NAME]
 *
 * process.title is "tg-" + NAME (so /proc/PID/comm is that, at most 15 bytes),
 * set before anything else; default NAME: amqp-pub, amqp-svc, amqp-cons.
 * Every role declares Q (non-durable, not auto-delete) on the default exchange.
 * Message bodies never contain a traceparent: trace context travels only in
 * the AMQP message headers table, written and read BY HAND here
 * (@opentelemetry/instrumentation-amqplib is NOT used, so the test decides
 * exactly what is sent). Every message also carries the header "x-test": "1".
 *
 * publish   A plain client (no OpenTelemetry SDK). One connection, one confirm
 *           channel; publishes N messages to Q, waits for the broker's
 *           publisher confirms, closes and prints one JSON line
 *           { role, queue, count, sent, confirmed, context, traceparents_sent }.
 *           --context valid      a fresh random valid traceparent per message
 *                                (00-<32 hex>-<16 hex>-01, lowercase)
 *           --context none       no traceparent header (x-test still there)
 *           --context malformed  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01
 *                                (the W3C example ids in UPPERCASE: invalid)
 *           Exit 0 if all N were confirmed, 1 otherwise, 2 on bad usage.
 *
 * service   An OpenTelemetry-instrumented HTTP service (as http-service.js:
 *           HttpInstrumentation, W3C propagator, counting exporter). Opens one
 *           AMQP connection and confirm channel at start-up, then listens and
 *           prints "ready". Every inbound HTTP request publishes exactly ONE
 *           message to Q and, once the broker has confirmed it, answers 200:
 *             { name, pid, mode, received_traceparent, queue, seq,
 *               published_headers }
 *           (502 with { ..., error } if the publish fails).
 *           --mode propagate (default): propagation.inject(context.active(),
 *                  headers): the SERVER span's context, so the message's
 *                  traceparent has the inbound trace-id and the server span's
 *                  id as parent-id.
 *           --mode drop: no trace headers at all.
 *
 * consumer  An OpenTelemetry-instrumented consumer. Consumes Q (manual acks,
 *           prefetch K, default 1) and prints "ready" once consuming. For each
 *           message it makes exactly ONE HTTP GET to HTTP_URL, waits for it,
 *           acks the message and prints one line
 *             handled <n> <JSON {status, message_traceparent,
 *                                outbound_traceparent, response | error}>
 *           (n counts from 1; the reader must keep draining stdout).
 *           --mode forward (default): ctx = propagation.extract(ROOT_CONTEXT,
 *                  msg.properties.headers), call made in ctx with the
 *                  instrumented client: same trace-id as the message, new
 *                  parent-id (the CLIENT span). A message without a valid
 *                  traceparent (none, malformed) yields a new root trace.
 *           --mode drop: call made in suppressTracing(ROOT_CONTEXT): no
 *                  traceparent is sent.
 *
 * service and consumer exit 0 on SIGTERM/SIGINT; every role exits 1 if the
 * AMQP connection fails or is closed by the broker.
 * Environment: TG_PEER_DEBUG=1 enables the OpenTelemetry diag logger (stderr).
 */

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

const DEFAULT_NAMES = { publish: 'amqp-pub', service: 'amqp-svc', consumer: 'amqp-cons' };

function rawArg(key) {
  const a = process.argv;
  for (let i = 2; i < a.length; i++) {
    if (a[i] === `--${key}` && i + 1 < a.length) return a[i + 1];
    if (a[i].startsWith(`--${key}=`)) return a[i].slice(key.length + 3);
  }
  return undefined;
}
common.setTitle(rawArg('name') || DEFAULT_NAMES[rawArg('role')] || '');

// ---- 2. argument parsing -----------------------------------------------------
const MALFORMED_TRACEPARENT = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01';

const usage = common.makeUsage(
  'amqp-peer',
  'usage: node amqp-peer.js --role publish  --url AMQP_URL --queue Q --count N\n' +
    '                         --context valid|none|malformed [--name NAME]\n' +
    '       node amqp-peer.js --role service  --url AMQP_URL --queue Q --port P\n' +
    '                         [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]\n' +
    '       node amqp-peer.js --role consumer --url AMQP_URL --queue Q --downstream HTTP_URL\n' +
    '                         [--mode forward|drop] [--prefetch K] [--name NAME]\n');

const ROLE_OPTIONS = {
  publish: ['count', 'context'],
  service: ['port', 'host', 'mode'],
  consumer: ['downstream', 'mode', 'prefetch'],
};
const args = common.parseArgs(process.argv.slice(2), {
  options: ['role', 'url', 'queue', 'name', 'count', 'context', 'port', 'host', 'mode',
    'downstream', 'prefetch'],
}, usage);
const ROLE = args.role;
if (!ROLE) usage('--role is required');
if (!ROLE_OPTIONS[ROLE]) usage(`bad --role ${ROLE}`);
for (const k of Object.keys(args)) {
  if (!['role', 'url', 'queue', 'name', ...ROLE_OPTIONS[ROLE]].includes(k)) {
    usage(`--${k} is not an option of --role ${ROLE}`);
  }
}
if (!args.url) usage('--url is required');
if (!/^amqps?:\/\//.test(args.url)) usage('--url must be an amqp:// URL');
if (!args.queue) usage('--queue is required');
const NAME = args.name || DEFAULT_NAMES[ROLE];
common.warnLongName('amqp-peer', NAME);

function intArg(key, min, max, dflt) {
  if (args[key] === undefined) {
    if (dflt === undefined) usage(`--${key} is required`);
    return dflt;
  }
  const v = Number(args[key]);
  if (!Number.isInteger(v) || v < min || v > max) usage(`bad --${key} ${args[key]}`);
  return v;
}
function choice(key, values) {
  const v = args[key] === undefined ? values[0] : args[key];
  if (!values.includes(v)) usage(`bad --${key} ${v}`);
  return v;
}

const QUEUE_OPTIONS = { durable: false, autoDelete: false };

function fail(err) {
  process.stderr.write(`amqp-peer ${NAME}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

/** Exits 1 if the broker closes the connection (or it errors) unless we are stopping. */
function watchConnection(conn, state) {
  conn.on('error', (err) => {
    if (!state.stopping) fail(`AMQP connection error: ${err.message}`);
  });
  conn.on('close', () => {
    if (!state.stopping) fail('AMQP connection closed by the broker');
  });
}

// ---- 3. roles ------------------------------------------------------------------

function runPublish() {
  const count = intArg('count', 0, 1e9);
  if (args.context === undefined) usage('--context is required');
  const ctxMode = choice('context', ['valid', 'none', 'malformed']);
  const amqp = require('amqplib');
  const state = { stopping: false };

  (async () => {
    const conn = await amqp.connect(args.url);
    watchConnection(conn, state);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(args.queue, QUEUE_OPTIONS);
    const sent = [];
    let confirmed = 0;
    const confirms = [];
    for (let i = 0; i < count; i++) {
      const headers = { 'x-test': '1' };
      if (ctxMode === 'valid') headers.traceparent = common.newTraceparent();
      else if (ctxMode === 'malformed') headers.traceparent = MALFORMED_TRACEPARENT;
      if (headers.traceparent) sent.push(headers.traceparent);
      const body = Buffer.from(JSON.stringify({ seq: i + 1, from: NAME }));
      confirms.push(new Promise((resolve) => {
        ch.publish('', args.queue, body, { headers, contentType: 'application/json' }, (err) => {
          if (!err) confirmed++;
          resolve();
        });
      }));
    }
    await ch.waitForConfirms().catch(() => {});
    await Promise.all(confirms);
    state.stopping = true;
    await ch.close();
    await conn.close();
    process.stdout.write(JSON.stringify({
      role: 'publish',
      queue: args.queue,
      count,
      sent: count,
      confirmed,
      context: ctxMode,
      traceparents_sent: sent,
    }) + '\n');
    process.exitCode = confirmed === count ? 0 : 1;
  })().catch(fail);
}

function runService() {
  const port = intArg('port', 0, 65535);
  const host = args.host || '127.0.0.1';
  const mode = choice('mode', ['propagate', 'drop']);

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const amqp = require('amqplib');
  const state = { stopping: false };
  let conn;
  let ch;
  let seq = 0;

  function reply(res, status, obj) {
    const body = JSON.stringify(obj) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function publishOne(headers, body) {
    return new Promise((resolve, reject) => {
      ch.publish('', args.queue, body, { headers, contentType: 'application/json' }, (err) => {
        if (err) reject(err instanceof Error ? err : new Error(`publish nacked: ${err}`));
        else resolve();
      });
    });
  }

  const server = http.createServer((req, res) => {
    req.resume();
    const tp = req.headers.traceparent;
    const n = ++seq;
    const headers = { 'x-test': '1' };
    if (mode === 'propagate') api.propagation.inject(api.context.active(), headers);
    const base = {
      name: NAME,
      pid: process.pid,
      mode,
      received_traceparent: tp === undefined ? null : tp,
      queue: args.queue,
      seq: n,
      published_headers: headers,
    };
    publishOne(headers, Buffer.from(JSON.stringify({ seq: n, from: NAME }))).then(
      () => reply(res, 200, base),
      (err) => reply(res, 502, { ...base, error: String(err && err.message ? err.message : err) }));
  });
  server.keepAliveTimeout = 30000;
  server.on('error', fail);

  (async () => {
    conn = await amqp.connect(args.url);
    watchConnection(conn, state);
    ch = await conn.createConfirmChannel();
    await ch.assertQueue(args.queue, QUEUE_OPTIONS);
    server.listen(port, host, () => process.stdout.write('ready\n'));
  })().catch(fail);

  common.onStopSignal(() => {
    state.stopping = true;
    server.close();
    server.closeAllConnections();
    Promise.resolve(conn && conn.close())
      .catch(() => {})
      .then(() => provider.shutdown())
      .finally(() => process.exit(0));
  });
}

function runConsumer() {
  if (!args.downstream) usage('--downstream is required');
  let downstream;
  try {
    downstream = new URL(args.downstream);
  } catch (e) {
    usage(`bad --downstream URL ${args.downstream}`);
  }
  if (downstream.protocol !== 'http:') usage('--downstream must be an http:// URL');
  const mode = choice('mode', ['forward', 'drop']);
  const prefetch = intArg('prefetch', 1, 65535, 1);

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, suppressTracing, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const amqp = require('amqplib');
  const agent = new http.Agent({ keepAlive: true, maxSockets: prefetch });
  const state = { stopping: false };
  const TIMEOUT_MS = 10000;
  let conn;
  let handled = 0;

  /** One GET in `ctx`; resolves { status, response | error, outbound_traceparent }. */
  function callDownstream(ctx) {
    return new Promise((resolve) => {
      let outbound = null;
      api.context.with(ctx, () => {
        const req = http.get(downstream, { agent }, (res) => {
          common.readBody(res, (body) => resolve({
            status: res.statusCode, outbound_traceparent: outbound, response: body,
          }));
          res.on('error', (err) => resolve({
            status: null, outbound_traceparent: outbound, error: err.message,
          }));
        });
        const tp = req.getHeader('traceparent');
        outbound = tp === undefined ? null : String(tp);
        req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${TIMEOUT_MS} ms`)));
        req.on('error', (err) => resolve({
          status: null, outbound_traceparent: outbound, error: err.message,
        }));
      });
    });
  }

  (async () => {
    conn = await amqp.connect(args.url);
    watchConnection(conn, state);
    const ch = await conn.createChannel();
    await ch.assertQueue(args.queue, QUEUE_OPTIONS);
    await ch.prefetch(prefetch);
    await ch.consume(args.queue, (msg) => {
      if (msg === null) {
        if (!state.stopping) fail('consumer cancelled by the broker');
        return;
      }
      const headers = msg.properties.headers || {};
      const mtp = headers.traceparent === undefined ? null : String(headers.traceparent);
      const ctx = mode === 'forward'
        ? api.propagation.extract(api.ROOT_CONTEXT, headers)
        : suppressTracing(api.ROOT_CONTEXT);
      callDownstream(ctx).then((r) => {
        if (state.stopping) return;
        ch.ack(msg);
        handled++;
        process.stdout.write(`handled ${handled} ${JSON.stringify({
          status: r.status,
          message_traceparent: mtp,
          outbound_traceparent: r.outbound_traceparent,
          ...(r.error ? { error: r.error } : { response: r.response }),
        })}\n`);
      });
    }, { noAck: false });
    process.stdout.write('ready\n');
  })().catch(fail);

  common.onStopSignal(() => {
    state.stopping = true;
    agent.destroy();
    Promise.resolve(conn && conn.close())
      .catch(() => {})
      .then(() => provider.shutdown())
      .finally(() => process.exit(0));
  });
}

({ publish: runPublish, service: runService, consumer: runConsumer })[ROLE]();
