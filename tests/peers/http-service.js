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

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

common.setTitleFromName();

// ---- 2. argument parsing -----------------------------------------------------
const MODES = ['propagate', 'drop', 'restart', 'mangle'];
const MANGLED_TRACEPARENT =
  '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01';

const usage = common.makeUsage(
  'http-service',
  'usage: node http-service.js --name NAME --port PORT [--host 127.0.0.1]\n' +
    '                            [--downstream URL] [--mode propagate|drop|restart|mangle]\n');

const { name: NAME, port: PORT, host: HOST, mode: MODE, downstream: DOWNSTREAM } =
  common.parseServiceArgs(usage, MODES);
if (DOWNSTREAM) {
  let u;
  try {
    u = new URL(DOWNSTREAM);
  } catch (e) {
    usage(`bad --downstream URL ${DOWNSTREAM}`);
  }
  if (u.protocol !== 'http:') usage('--downstream must be an http:// URL');
}
common.warnLongName('http-service', NAME);

// ---- 3. OpenTelemetry SDK (before 'http' is required) ----------------------
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const { api, suppressTracing, provider } = common.setupTracing(() => [new HttpInstrumentation()]);

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
        common.readBody(res, (body) => resolve({ status: res.statusCode, body, outboundTraceparent }));
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
    name: NAME,
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
  process.stderr.write(`http-service ${NAME}: ${err.stack || err}\n`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  process.stdout.write('ready\n');
});

common.onStopSignal(() => {
  server.close(() => {
    agent.destroy();
    provider.shutdown().finally(() => process.exit(0));
  });
  server.closeAllConnections();
  agent.destroy();
});
