'use strict';
/*
 * tracegap end-to-end test peer: a REAL OpenTelemetry-instrumented HTTP service.
 *
 *   node http-service.js --name NAME --port PORT [--host 127.0.0.1]
 *                        [--downstream URL] [--mode propagate|drop|restart|mangle]
 *
 * - process.title is set to "tg-" + NAME before anything else, which on Linux
 *   also sets the main thread's comm (/proc/PID/comm), truncated by the kernel
 *   to 15 bytes. Keep NAME at most 12 characters. Only the main thread is
 *   renamed: libuv/V8 helper threads already exist and keep the comm "node"
 *   (the main thread is the one that does all socket I/O).
 * - A NodeTracerProvider (ParentBased(AlwaysOn) sampler, W3C trace-context
 *   propagator, AsyncLocalStorage context manager) is registered with ONE span
 *   processor whose exporter only counts spans in memory: there is no exporter
 *   network traffic of any kind. HttpInstrumentation is registered before
 *   'http' is required.
 * - Every inbound request (any method, any path): if --downstream is set,
 *   exactly ONE outbound GET is made to that URL (keep-alive agent, one socket),
 *   awaited, and then 200 is returned with JSON:
 *     { name, pid, mode, received_traceparent, downstream_url,
 *       outbound_traceparent, downstream_status, downstream_response }
 *   Without --downstream: { name, pid, received_traceparent }.
 *   If the downstream call fails: 502 with { ..., downstream_status: null, error }.
 * - Prints "ready" on stdout once listening; exits 0 on SIGTERM/SIGINT.
 *
 * Outbound traceparent per --mode (client sends a valid inbound traceparent):
 *   propagate (default)  plain instrumented call in the request's active
 *                        context: same trace-id, NEW parent-id (the id of the
 *                        outbound CLIENT span), flags from the sampler.
 *   drop                 call made under suppressTracing(context.active()): the
 *                        SDK starts no span and injects NO traceparent.
 *   restart              call made under ROOT_CONTEXT: the SDK starts a new root
 *                        span, so a VALID traceparent with a DIFFERENT (random)
 *                        trace-id is sent.
 *   mangle               call made under suppressTracing (so the SDK injects
 *                        nothing) with this fixed header set by hand:
 *                          traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01
 *                        i.e. the W3C spec example ids in UPPERCASE hex: right
 *                        length and layout, but invalid (W3C requires lowercase
 *                        hex; receivers MUST ignore it). Deterministic: it does
 *                        not depend on the inbound header.
 *
 * Environment: TG_PEER_DEBUG=1 enables the OpenTelemetry diag logger (stderr).
 */

// ---- 1. process title FIRST (before any require) ---------------------------
const NAME = (() => {
  const a = process.argv;
  for (let i = 2; i < a.length; i++) {
    if (a[i] === '--name' && i + 1 < a.length) return a[i + 1];
    if (a[i].startsWith('--name=')) return a[i].slice('--name='.length);
  }
  return null;
})();
if (NAME) process.title = 'tg-' + NAME;

// ---- 2. argument parsing -----------------------------------------------------
const MODES = ['propagate', 'drop', 'restart', 'mangle'];
const MANGLED_TRACEPARENT =
  '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01';

function usage(msg) {
  if (msg) process.stderr.write(`http-service: ${msg}\n`);
  process.stderr.write(
    'usage: node http-service.js --name NAME --port PORT [--host 127.0.0.1]\n' +
      '                            [--downstream URL] [--mode propagate|drop|restart|mangle]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const known = new Set(['name', 'port', 'host', 'downstream', 'mode']);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') usage();
    if (!a.startsWith('--')) usage(`unexpected argument ${JSON.stringify(a)}`);
    a = a.slice(2);
    let key;
    let val;
    const eq = a.indexOf('=');
    if (eq >= 0) {
      key = a.slice(0, eq);
      val = a.slice(eq + 1);
    } else {
      key = a;
      if (i + 1 >= argv.length) usage(`--${key} needs a value`);
      val = argv[++i];
    }
    if (!known.has(key)) usage(`unknown option --${key}`);
    out[key] = val;
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (!args.name) usage('--name is required');
if (args.port === undefined) usage('--port is required');
const PORT = Number(args.port);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) usage(`bad --port ${args.port}`);
const HOST = args.host || '127.0.0.1';
const MODE = args.mode || 'propagate';
if (!MODES.includes(MODE)) usage(`bad --mode ${MODE}`);
const DOWNSTREAM = args.downstream || null;
if (DOWNSTREAM) {
  let u;
  try {
    u = new URL(DOWNSTREAM);
  } catch (e) {
    usage(`bad --downstream URL ${DOWNSTREAM}`);
  }
  if (u.protocol !== 'http:') usage('--downstream must be an http:// URL');
}
if (('tg-' + args.name).length > 15) {
  process.stderr.write(
    `http-service: warning: comm is limited to 15 bytes; "tg-${args.name}" will appear as ` +
      `"${('tg-' + args.name).slice(0, 15)}" in /proc/PID/comm\n`);
}

// ---- 3. OpenTelemetry SDK (before 'http' is required) ----------------------
const api = require('@opentelemetry/api');
const {
  ExportResultCode,
  W3CTraceContextPropagator,
  suppressTracing,
} = require('@opentelemetry/core');
const {
  NodeTracerProvider,
  SimpleSpanProcessor,
  ParentBasedSampler,
  AlwaysOnSampler,
} = require('@opentelemetry/sdk-trace-node');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

if (process.env.TG_PEER_DEBUG) {
  api.diag.setLogger(new api.DiagConsoleLogger(), api.DiagLogLevel.DEBUG);
}

/** Exporter that sends nowhere: it only counts the spans it is handed. */
class CountingExporter {
  constructor() {
    this.count = 0;
  }
  export(spans, resultCallback) {
    this.count += spans.length;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

const exporter = new CountingExporter();
const provider = new NodeTracerProvider({
  // Explicit, so OTEL_TRACES_SAMPLER in the environment cannot change behaviour.
  sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
provider.register({
  contextManager: new AsyncLocalStorageContextManager(),
  propagator: new W3CTraceContextPropagator(),
});
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new HttpInstrumentation()],
});

// ---- 4. the service ----------------------------------------------------------
const http = require('http'); // patched by HttpInstrumentation

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const DOWNSTREAM_TIMEOUT_MS = 10000;

function contextForMode(active) {
  switch (MODE) {
    case 'drop':
    case 'mangle':
      return suppressTracing(active);
    case 'restart':
      return api.ROOT_CONTEXT;
    default:
      return active;
  }
}

/**
 * One outbound GET to DOWNSTREAM; resolves {status, body, outboundTraceparent},
 * rejects with an Error carrying .outboundTraceparent (what was put on the request).
 */
function callDownstream() {
  return new Promise((resolve, reject) => {
    let outboundTraceparent = null;
    const fail = (err) => {
      err.outboundTraceparent = outboundTraceparent;
      reject(err);
    };
    const headers = {};
    if (MODE === 'mangle') headers.traceparent = MANGLED_TRACEPARENT;
    api.context.with(contextForMode(api.context.active()), () => {
      const req = http.get(DOWNSTREAM, { agent, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body;
          try {
            body = JSON.parse(text);
          } catch (e) {
            body = text;
          }
          resolve({ status: res.statusCode, body, outboundTraceparent });
        });
        res.on('error', fail);
      });
      const tp = req.getHeader('traceparent');
      outboundTraceparent = tp === undefined ? null : String(tp);
      req.setTimeout(DOWNSTREAM_TIMEOUT_MS, () => {
        req.destroy(new Error(`downstream timeout after ${DOWNSTREAM_TIMEOUT_MS} ms`));
      });
      req.on('error', fail);
    });
  });
}

function reply(res, status, obj) {
  const body = JSON.stringify(obj) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  req.resume(); // drain any request body
  const tp = req.headers.traceparent;
  const base = {
    name: args.name,
    pid: process.pid,
    received_traceparent: tp === undefined ? null : tp,
  };
  if (!DOWNSTREAM) {
    reply(res, 200, base);
    return;
  }
  Object.assign(base, { mode: MODE, downstream_url: DOWNSTREAM });
  callDownstream().then(
    (r) =>
      reply(res, 200, {
        ...base,
        outbound_traceparent: r.outboundTraceparent,
        downstream_status: r.status,
        downstream_response: r.body,
      }),
    (err) =>
      reply(res, 502, {
        ...base,
        outbound_traceparent: (err && err.outboundTraceparent) || null,
        downstream_status: null,
        error: String(err && err.message ? err.message : err),
      }));
});
server.keepAliveTimeout = 30000;

server.on('error', (err) => {
  process.stderr.write(`http-service ${args.name}: ${err.stack || err}\n`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  process.stdout.write('ready\n');
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 2000);
  force.unref();
  server.close(() => {
    agent.destroy();
    provider.shutdown().finally(() => process.exit(0));
  });
  server.closeAllConnections();
  agent.destroy();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
