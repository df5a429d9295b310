'use strict';
/*
 * tracegap end-to-end test peer: REAL NATS clients (nats.js v2, npm `nats`) in three roles.
 *
 *   node nats-peer.js --role publish  --url NATS_URL --subject S --count N
 *                     --context valid|none|malformed [--name NAME]
 *   node nats-peer.js --role service  --url NATS_URL --subject S --port P
 *                     [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]
 *   node nats-peer.js --role consumer --url NATS_URL --subject S --downstream HTTP_URL
 *                     [--mode forward|drop] [--name NAME]
 *
 * process.title is "tg-" + NAME (so /proc/PID/comm is that, at most 15 bytes),
 * set before anything else; default NAME: nats-pub, nats-svc, nats-cons.
 * Core NATS only (no JetStream): one connection per process, no reconnects (a
 * lost server is an error, not a retry). Message bodies never contain a
 * traceparent: trace context travels only in the NATS message headers (the
 * header block of HPUB/HMSG), written and read BY HAND here through a carrier
 * over nats' headers() object (no NATS instrumentation package is used, so the
 * test decides exactly what is sent). A message with headers always also
 * carries "x-test: 1"; a message without context carries NO headers at all,
 * so it goes on the wire as PUB (delivered as MSG), not HPUB.
 *
 * publish   A plain client (no OpenTelemetry SDK). Publishes N messages to S,
 *           flushes (a PING/PONG round trip: the server has processed every
 *           publish), closes and prints one JSON line
 *           { role, subject, count, sent, flushed, context, traceparents_sent }.
 *           --context valid      headers: a fresh random valid traceparent per
 *                                message (00-<32 hex>-<16 hex>-01, lowercase)
 *           --context none       no headers at all: the wire op is PUB
 *           --context malformed  headers: traceparent
 *                                00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01
 *                                (the W3C example ids in UPPERCASE: invalid)
 *           Exit 0 once flushed, 1 on a connection error, 2 on bad usage.
 *
 * service   An OpenTelemetry-instrumented HTTP service (as http-service.js:
 *           HttpInstrumentation, W3C propagator, counting exporter). Connects
 *           to NATS at start-up, then listens and prints "ready". Every inbound
 *           HTTP request publishes exactly ONE message to S and, once flushed,
 *           answers 200:
 *             { name, pid, mode, received_traceparent, subject, seq,
 *               published_headers }
 *           (502 with { ..., error } if the publish or flush fails).
 *           --mode propagate (default): headers() with
 *                  propagation.inject(context.active(), headers): the SERVER
 *                  span's context, so the message's traceparent has the
 *                  inbound trace-id and the server span's id as parent-id;
 *                  plus x-test. Wire op HPUB.
 *           --mode drop: a plain publish without headers (published_headers
 *                  null). Wire op PUB.
 *
 * consumer  An OpenTelemetry-instrumented consumer. Subscribes to S and prints
 *           "ready" once the subscription is flushed to the server (so a
 *           message published after "ready" is delivered). Messages are
 *           handled one at a time, in order: for each, exactly ONE HTTP GET to
 *           HTTP_URL, waited for, then one line
 *             handled <n> <JSON {status, message_traceparent,
 *                                outbound_traceparent, response | error}>
 *           (n counts from 1; the reader must keep draining stdout).
 *           --mode forward (default): ctx = propagation.extract(ROOT_CONTEXT,
 *                  msg.headers), call made in ctx with the instrumented
 *                  client: same trace-id as the message, new parent-id (the
 *                  CLIENT span). A message without a valid traceparent (none,
 *                  malformed, a drop service) yields a new root trace.
 *           --mode drop: call made in suppressTracing(ROOT_CONTEXT): no
 *                  traceparent is sent.
 *
 * service and consumer exit 0 on SIGTERM/SIGINT; every role exits 1 if the
 * NATS connection fails or is closed by the server.
 * Environment: TG_PEER_DEBUG=1 enables the OpenTelemetry diag logger (stderr).
 */

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

const DEFAULT_NAMES = { publish: 'nats-pub', service: 'nats-svc', consumer: 'nats-cons' };

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
  'nats-peer',
  'usage: node nats-peer.js --role publish  --url NATS_URL --subject S --count N\n' +
    '                         --context valid|none|malformed [--name NAME]\n' +
    '       node nats-peer.js --role service  --url NATS_URL --subject S --port P\n' +
    '                         [--host 127.0.0.1] [--mode propagate|drop] [--name NAME]\n' +
    '       node nats-peer.js --role consumer --url NATS_URL --subject S --downstream HTTP_URL\n' +
    '                         [--mode forward|drop] [--name NAME]\n');

const ROLE_OPTIONS = {
  publish: ['count', 'context'],
  service: ['port', 'host', 'mode'],
  consumer: ['downstream', 'mode'],
};
const args = common.parseArgs(process.argv.slice(2), {
  options: ['role', 'url', 'subject', 'name', 'count', 'context', 'port', 'host', 'mode',
    'downstream'],
}, usage);
const ROLE = args.role;
if (!ROLE) usage('--role is required');
if (!ROLE_OPTIONS[ROLE]) usage(`bad --role ${ROLE}`);
for (const k of Object.keys(args)) {
  if (!['role', 'url', 'subject', 'name', ...ROLE_OPTIONS[ROLE]].includes(k)) {
    usage(`--${k} is not an option of --role ${ROLE}`);
  }
}
if (!args.url) usage('--url is required');
if (!/^nats:\/\/[^/\s]+$/.test(args.url)) usage('--url must be a nats://HOST:PORT URL');
if (!args.subject) usage('--subject is required');
if (/[\s]/.test(args.subject)) usage('--subject must not contain whitespace');
const NAME = args.name || DEFAULT_NAMES[ROLE];
common.warnLongName('nats-peer', NAME);

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
  process.stderr.write(`nats-peer ${NAME}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

/** One connection, no reconnects; exits 1 if it closes (or errors) unless we are stopping. */
async function connectNats(state) {
  const nats = require('nats');
  const nc = await nats.connect({
    servers: args.url,
    name: NAME,
    reconnect: false,
    timeout: 10000,
  });
  nc.closed().then((err) => {
    if (!state.stopping) fail(`NATS connection closed${err ? `: ${err.message}` : ' by the server'}`);
  });
  return nc;
}

// ---- 3. trace context in NATS headers ------------------------------------------

/** Carrier accessors over a nats MsgHdrs (what headers() returns, and msg.headers). */
const HEADERS_SETTER = {
  set(carrier, key, value) {
    carrier.set(key, String(value));
  },
};
function headersGetter(nats) {
  return {
    get(carrier, key) {
      if (!carrier || !carrier.has(key, nats.Match.IgnoreCase)) return undefined;
      const values = carrier.values(key, nats.Match.IgnoreCase);
      return values.length > 1 ? values : values[0];
    },
    keys(carrier) {
      return carrier ? carrier.keys() : [];
    },
  };
}

/** The message's first traceparent value, or null (no headers, or none of that name). */
function messageTraceparent(nats, msg) {
  if (!msg.headers || !msg.headers.has('traceparent', nats.Match.IgnoreCase)) return null;
  return msg.headers.get('traceparent', nats.Match.IgnoreCase);
}

function headersToObject(hdrs) {
  const obj = {};
  for (const k of hdrs.keys()) {
    const v = hdrs.values(k);
    obj[k] = v.length === 1 ? v[0] : v;
  }
  return obj;
}

// ---- 4. roles ------------------------------------------------------------------

function runPublish() {
  const count = intArg('count', 0, 1e9);
  if (args.context === undefined) usage('--context is required');
  const ctxMode = choice('context', ['valid', 'none', 'malformed']);
  const nats = require('nats');
  const state = { stopping: false };

  (async () => {
    const nc = await connectNats(state);
    const sent = [];
    for (let i = 0; i < count; i++) {
      const body = Buffer.from(JSON.stringify({ seq: i + 1, from: NAME }));
      if (ctxMode === 'none') {
        nc.publish(args.subject, body);  // no headers at all: PUB
        continue;
      }
      const hdrs = nats.headers();
      hdrs.set('traceparent', ctxMode === 'valid' ? common.newTraceparent() : MALFORMED_TRACEPARENT);
      hdrs.set('x-test', '1');
      sent.push(hdrs.get('traceparent'));
      nc.publish(args.subject, body, { headers: hdrs });
    }
    await nc.flush();
    state.stopping = true;
    await nc.close();
    process.stdout.write(JSON.stringify({
      role: 'publish',
      subject: args.subject,
      count,
      sent: count,
      flushed: true,
      context: ctxMode,
      traceparents_sent: sent,
    }) + '\n');
    process.exitCode = 0;
  })().catch(fail);
}

function runService() {
  const port = intArg('port', 0, 65535);
  const host = args.host || '127.0.0.1';
  const mode = choice('mode', ['propagate', 'drop']);

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const nats = require('nats');
  const state = { stopping: false };
  let nc;
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
    let hdrs = null;
    if (mode === 'propagate') {
      hdrs = nats.headers();
      api.propagation.inject(api.context.active(), hdrs, HEADERS_SETTER);
      hdrs.set('x-test', '1');
    }
    const base = {
      name: NAME,
      pid: process.pid,
      mode,
      received_traceparent: tp === undefined ? null : tp,
      subject: args.subject,
      seq: n,
      published_headers: hdrs ? headersToObject(hdrs) : null,
    };
    Promise.resolve()
      .then(() => {
        const body = Buffer.from(JSON.stringify({ seq: n, from: NAME }));
        if (hdrs) nc.publish(args.subject, body, { headers: hdrs });
        else nc.publish(args.subject, body);  // no headers at all: PUB
        return nc.flush();
      })
      .then(
        () => reply(res, 200, base),
        (err) => reply(res, 502, { ...base, error: String(err && err.message ? err.message : err) }));
  });
  server.keepAliveTimeout = 30000;
  server.on('error', fail);

  (async () => {
    nc = await connectNats(state);
    server.listen(port, host, () => process.stdout.write('ready\n'));
  })().catch(fail);

  common.onStopSignal(() => {
    state.stopping = true;
    server.close();
    server.closeAllConnections();
    Promise.resolve(nc && nc.close())
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

  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { api, suppressTracing, provider } = common.setupTracing(() => [new HttpInstrumentation()]);
  const http = require('http'); // patched by HttpInstrumentation
  const nats = require('nats');
  const getter = headersGetter(nats);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const state = { stopping: false };
  const TIMEOUT_MS = 10000;
  let nc;
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
    nc = await connectNats(state);
    const sub = nc.subscribe(args.subject);
    await nc.flush();  // the SUB has reached the server
    process.stdout.write('ready\n');
    // One message at a time, in order: the next is taken only once this one is handled.
    for await (const msg of sub) {
      const mtp = messageTraceparent(nats, msg);
      const ctx = mode === 'forward'
        ? api.propagation.extract(api.ROOT_CONTEXT, msg.headers, getter)
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
    }
    if (!state.stopping) {
      fail(nc.isClosed() ? 'NATS connection closed by the server' : 'subscription closed');
    }
  })().catch(fail);

  common.onStopSignal(() => {
    state.stopping = true;
    agent.destroy();
    Promise.resolve(nc && nc.close())
      .catch(() => {})
      .then(() => provider.shutdown())
      .finally(() => process.exit(0));
  });
}

({ publish: runPublish, service: runService, consumer: runConsumer })[ROLE]();
