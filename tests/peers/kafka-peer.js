'use strict';
/*
 * tracegap end-to-end test peer: REAL Kafka clients (npm kafkajs 2.2.4) in three roles.
 *
 *   node kafka-peer.js --role publish  --brokers HOST:PORT[,...] --topic T --count N
 *                      --context valid|none|malformed [--name NAME]
 *   node kafka-peer.js --role service  --brokers HOST:PORT[,...] --topic T --port P
 *                      [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]
 *   node kafka-peer.js --role consumer --brokers HOST:PORT[,...] --topic T --group G
 *                      --downstream HTTP_URL [--mode forward|drop]
 *                      [--from earliest|latest] [--max-wait MS] [--name NAME]
 *
 * The Kafka counterpart of amqp-peer.js (same roles, output lines and exit codes).
 * process.title is "tg-" + NAME (so /proc/PID/comm is that, at most 15 bytes),
 * set before anything else; default NAME: kafka-pub, kafka-svc, kafka-cons.
 * kafkajs does all its socket I/O on the main thread. Its clientId is NAME.
 * Message values never contain a traceparent: trace context travels only in
 * the Kafka RECORD HEADERS, written and read BY HAND here (no OpenTelemetry
 * kafkajs instrumentation is used, so the test decides exactly what is sent).
 * Every message also carries the header "x-test": "1". kafkajs's log goes to
 * stderr (WARN and up; TG_PEER_DEBUG=1: DEBUG), never to stdout.
 *
 * publish   A plain client (no OpenTelemetry SDK). One producer (acks -1,
 *           no compression, no idempotence), N messages to T, ONE
 *           producer.send per message (so one record batch with one record
 *           per Produce request), each awaited; then disconnects and prints
 *           one JSON line
 *           { role, topic, count, sent, acked, context, traceparents_sent, offsets }.
 *           --context valid      a fresh random valid traceparent per message
 *                                (00-<32 hex>-<16 hex>-01, lowercase)
 *           --context none       no traceparent header (x-test still there)
 *           --context malformed  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01
 *                                (the W3C example ids in UPPERCASE: invalid)
 *           Exit 0 if all N were acked, 1 otherwise, 2 on bad usage.
 *
 * service   An OpenTelemetry-instrumented HTTP service (as http-service.js:
 *           HttpInstrumentation, W3C propagator, counting exporter). Connects
 *           its producer at start-up, then listens and prints "ready". Every
 *           inbound HTTP request sends exactly ONE message to T (acks -1) and,
 *           once the broker has acked it, answers 200:
 *             { name, pid, mode, received_traceparent, topic, seq,
 *               published_headers, offset }
 *           (502 with { ..., error } if the send fails).
 *           --mode propagate (default): propagation.inject(context.active(),
 *                  headers): the SERVER span's context, so the message's
 *                  traceparent has the inbound trace-id and the server span's
 *                  id as parent-id.
 *           --mode drop: no trace headers at all.
 *
 * consumer  An OpenTelemetry-instrumented consumer-group member (group G,
 *           subscribed to T; kafkajs commits the offsets itself). Prints
 *           "ready" once it has joined the group, got its assignment and
 *           resolved the fetch offset of its partition(s) (ListOffsets or the
 *           first Fetch answered), so a message produced after "ready" is
 *           never skipped (also printed if it joined with nothing assigned).
 *           For each message (one at a time, eachMessage) it makes exactly
 *           ONE HTTP GET to HTTP_URL, waits for it and prints one line
 *             handled <n> <JSON {status, message_traceparent,
 *                                outbound_traceparent, response | error}>
 *           (n counts from 1; the reader must keep draining stdout).
 *           --mode forward (default): ctx = propagation.extract(ROOT_CONTEXT,
 *                  record headers as strings), call made in ctx with the
 *                  instrumented client: same trace-id as the message, new
 *                  parent-id (the CLIENT span). A message without a valid
 *                  traceparent (none, malformed) yields a new root trace.
 *           --mode drop: call made in suppressTracing(ROOT_CONTEXT): no
 *                  traceparent is sent.
 *           --from earliest (default): a group with no committed offset starts
 *                  at the beginning of T (so messages produced before the
 *                  consumer started are handled too, like an AMQP queue);
 *                  latest: only messages produced after "ready".
 *           --max-wait MS (default 1000): the Fetch long-poll time (kafkajs's
 *                  maxWaitTimeInMs); it bounds how long a clean stop takes.
 *
 * service and consumer exit 0 on SIGTERM/SIGINT (the consumer leaves its group
 * first, which takes up to --max-wait). publish exits 1 if it cannot connect
 * or a send fails; service exits 1 if it cannot connect at start-up, and
 * afterwards answers 502 for a failed send (kafkajs reconnects on demand);
 * consumer exits 1 when kafkajs gives up (no restart after a crash), e.g.
 * ~10 s after the broker went away (kafkajs retries 5 times).
 * Environment: TG_PEER_DEBUG=1 enables the OpenTelemetry diag logger and
 * kafkajs DEBUG logging (stderr).
 */

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

const DEFAULT_NAMES = { publish: 'kafka-pub', service: 'kafka-svc', consumer: 'kafka-cons' };

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
  'kafka-peer',
  'usage: node kafka-peer.js --role publish  --brokers HOST:PORT[,...] --topic T --count N\n' +
    '                          --context valid|none|malformed [--name NAME]\n' +
    '       node kafka-peer.js --role service  --brokers HOST:PORT[,...] --topic T --port P\n' +
    '                          [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]\n' +
    '       node kafka-peer.js --role consumer --brokers HOST:PORT[,...] --topic T --group G\n' +
    '                          --downstream HTTP_URL [--mode forward|drop]\n' +
    '                          [--from earliest|latest] [--max-wait MS] [--name NAME]\n');

const ROLE_OPTIONS = {
  publish: ['count', 'context'],
  service: ['port', 'host', 'mode'],
  consumer: ['group', 'downstream', 'mode', 'from', 'max-wait'],
};
const args = common.parseArgs(process.argv.slice(2), {
  options: ['role', 'brokers', 'topic', 'name', 'count', 'context', 'port', 'host', 'mode',
    'group', 'downstream', 'from', 'max-wait'],
}, usage);
const ROLE = args.role;
if (!ROLE) usage('--role is required');
if (!ROLE_OPTIONS[ROLE]) usage(`bad --role ${ROLE}`);
for (const k of Object.keys(args)) {
  if (!['role', 'brokers', 'topic', 'name', ...ROLE_OPTIONS[ROLE]].includes(k)) {
    usage(`--${k} is not an option of --role ${ROLE}`);
  }
}
if (!args.brokers) usage('--brokers is required');
const BROKERS = args.brokers.split(',');
for (const b of BROKERS) {
  if (!common.HOST_PORT_RE.test(b)) usage(`bad --brokers entry ${JSON.stringify(b)} (HOST:PORT)`);
}
if (!args.topic) usage('--topic is required');
if (!/^[a-zA-Z0-9._-]{1,249}$/.test(args.topic)) usage(`bad --topic ${args.topic}`);
const NAME = args.name || DEFAULT_NAMES[ROLE];
common.warnLongName('kafka-peer', NAME);

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

function fail(err) {
  process.stderr.write(`kafka-peer ${NAME}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

/** A kafkajs client whose log goes to stderr only (stdout carries the peer's own lines). */
function makeKafka() {
  const { Kafka, logLevel } = require('kafkajs');
  const toStderr = () => ({ namespace, level, label, log }) => {
    const { message, ...extra } = log;
    process.stderr.write(`kafka-peer ${NAME}: kafkajs ${label} [${namespace}] ${message} ` +
      `${JSON.stringify(extra)}\n`);
  };
  return new Kafka({
    clientId: NAME,
    brokers: BROKERS,
    logLevel: process.env.TG_PEER_DEBUG ? logLevel.DEBUG : logLevel.WARN,
    logCreator: toStderr,
    retry: { retries: 5 },
  });
}

function makeProducer(kafka) {
  const { Partitioners } = require('kafkajs');
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner, // (silences the v2 partitioner warning)
    allowAutoTopicCreation: true,
    idempotent: false,
  });
}

/** One message, one Produce request, acks -1; resolves the record's offset (string) or null. */
async function sendOne(producer, headers, value) {
  const res = await producer.send({
    topic: args.topic,
    acks: -1,
    messages: [{ value, headers }],
  });
  const r = res && res[0];
  return r && r.baseOffset !== undefined ? String(r.baseOffset) : null;
}

// ---- 3. roles ------------------------------------------------------------------

function runPublish() {
  const count = intArg('count', 0, 1e9);
  if (args.context === undefined) usage('--context is required');
  const ctxMode = choice('context', ['valid', 'none', 'malformed']);
  const kafka = makeKafka();
  const producer = makeProducer(kafka);

  (async () => {
    await producer.connect();
    const sent = [];
    const offsets = [];
    let acked = 0;
    let errors = 0;
    for (let i = 0; i < count; i++) {
      const headers = { 'x-test': '1' };
      if (ctxMode === 'valid') headers.traceparent = common.newTraceparent();
      else if (ctxMode === 'malformed') headers.traceparent = MALFORMED_TRACEPARENT;
      if (headers.traceparent) sent.push(headers.traceparent);
      const value = Buffer.from(JSON.stringify({ seq: i + 1, from: NAME }));
      try {
        offsets.push(await sendOne(producer, headers, value));
        acked++;
      } catch (err) {
        errors++;
        process.stderr.write(`kafka-peer ${NAME}: send ${i + 1} failed: ${err.message}\n`);
      }
    }
    await producer.disconnect();
    process.stdout.write(JSON.stringify({
      role: 'publish',
      topic: args.topic,
      count,
      sent: count,
      acked,
      context: ctxMode,
      traceparents_sent: sent,
      offsets,
    }) + '\n');
    process.exitCode = acked === count && errors === 0 ? 0 : 1;
  })().catch(fail);
}

function runService() {
  const port = intArg('port', 0, 65535);
  const host = args.host || '127.0.0.1';
  const mode = choice('mode', ['propagate', 'drop']);

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const kafka = makeKafka();
  const producer = makeProducer(kafka);
  let seq = 0;

  function reply(res, status, obj) {
    const body = JSON.stringify(obj) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
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
      topic: args.topic,
      seq: n,
      published_headers: { ...headers },
    };
    sendOne(producer, headers, Buffer.from(JSON.stringify({ seq: n, from: NAME }))).then(
      (offset) => reply(res, 200, { ...base, offset }),
      (err) => reply(res, 502, { ...base, error: String(err && err.message ? err.message : err) }));
  });
  server.keepAliveTimeout = 30000;
  server.on('error', fail);

  (async () => {
    await producer.connect();
    server.listen(port, host, () => process.stdout.write('ready\n'));
  })().catch(fail);

  common.onStopSignal(() => {
    server.close();
    server.closeAllConnections();
    Promise.resolve(producer.disconnect())
      .catch(() => {})
      .then(() => provider.shutdown())
      .finally(() => process.exit(0));
  });
}

function runConsumer() {
  if (!args.group) usage('--group is required');
  if (!args.downstream) usage('--downstream is required');
  let downstream;
  try {
    downstream = new URL(args.downstream);
  } catch (e) {
    usage(`bad --downstream URL ${args.downstream}`);
  }
  if (downstream.protocol !== 'http:') usage('--downstream must be an http:// URL');
  const mode = choice('mode', ['forward', 'drop']);
  const from = choice('from', ['earliest', 'latest']);
  const maxWait = intArg('max-wait', 10, 60000, 1000);

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, suppressTracing, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const kafka = makeKafka();
  const consumer = kafka.consumer({
    groupId: args.group,
    maxWaitTimeInMs: maxWait,
    allowAutoTopicCreation: true,
    retry: { retries: 5, restartOnFailure: async () => false },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const state = { stopping: false };
  const TIMEOUT_MS = 10000;
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

  /** Record headers (Buffer | string | array values) as a { name: string } carrier. */
  function headersAsStrings(headers) {
    const out = {};
    for (const [k, v] of Object.entries(headers || {})) {
      const one = Array.isArray(v) ? v[0] : v;
      if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
    }
    return out;
  }

  // "ready": joined + assigned, and the fetch offset is resolved (a ListOffsets answered
  // for a group without a committed offset, else the first Fetch answered).
  let joined = false;
  let ready = false;
  function markReady() {
    if (ready || state.stopping) return;
    ready = true;
    process.stdout.write('ready\n');
  }
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    const assigned = Object.values(e.payload.memberAssignment || {}).reduce((n, p) => n + p.length, 0);
    if (assigned === 0) markReady();
  });
  consumer.on(consumer.events.REQUEST, (e) => {
    if (joined && (e.payload.apiName === 'ListOffsets' || e.payload.apiName === 'Fetch')) markReady();
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (!state.stopping) fail(`consumer crashed: ${e.payload.error && e.payload.error.stack}`);
  });

  (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic: args.topic, fromBeginning: from === 'earliest' });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = headersAsStrings(message.headers);
        const mtp = headers.traceparent === undefined ? null : headers.traceparent;
        const ctx = mode === 'forward'
          ? api.propagation.extract(api.ROOT_CONTEXT, headers)
          : suppressTracing(api.ROOT_CONTEXT);
        const r = await callDownstream(ctx);
        if (state.stopping) return;
        handled++;
        process.stdout.write(`handled ${handled} ${JSON.stringify({
          status: r.status,
          message_traceparent: mtp,
          outbound_traceparent: r.outbound_traceparent,
          ...(r.error ? { error: r.error } : { response: r.response }),
        })}\n`);
      },
    });
  })().catch(fail);

  common.onStopSignal(() => {
    state.stopping = true;
    Promise.resolve(consumer.disconnect())
      .catch(() => {})
      .then(() => {
        agent.destroy();
        return provider.shutdown();
      })
      .finally(() => process.exit(0));
  });
}

({ publish: runPublish, service: runService, consumer: runConsumer })[ROLE]();
