'use strict';
/*
 * Pieces shared by the tracegap test peers (http-service.js, grpc-service.js,
 * send.js, grpc-send.js).
 *
 * Loading this module has NO side effects and requires nothing: every module
 * (crypto, the OpenTelemetry SDK, @grpc/proto-loader) is required inside the
 * function that needs it. So a peer can require this file first thing, set its
 * process.title with it before anything else happens, and register its
 * instrumentations (setupTracing) before 'http' / '@grpc/grpc-js' is required.
 */

// ---- process title -----------------------------------------------------------

/**
 * process.title = "tg-" + the first --name value on the command line (if any).
 * On Linux this also sets the main thread's comm (/proc/PID/comm), truncated
 * by the kernel to 15 bytes. Call it before anything else: threads started
 * earlier (libuv/V8 helpers) keep the comm "node".
 */
function setTitleFromName() {
  const a = process.argv;
  for (let i = 2; i < a.length; i++) {
    if (a[i] === '--name' && i + 1 < a.length) return setTitle(a[i + 1]);
    if (a[i].startsWith('--name=')) return setTitle(a[i].slice('--name='.length));
  }
}

/** process.title = "tg-" + name (nothing if name is empty). */
function setTitle(name) {
  if (name) process.title = 'tg-' + name;
}

/** Warns on stderr if "tg-" + name will not fit in the 15-byte comm. */
function warnLongName(prog, name) {
  const title = 'tg-' + name;
  if (title.length > 15) {
    process.stderr.write(
      `${prog}: warning: comm is limited to 15 bytes; "${title}" will appear as ` +
        `"${title.slice(0, 15)}" in /proc/PID/comm\n`);
  }
}

// ---- command line ------------------------------------------------------------

/**
 * usage(msg): writes "PROG: msg" (if msg) and then `text` to stderr, exits 2.
 * `text` is the full usage text, ending with a newline.
 */
function makeUsage(prog, text) {
  return (msg) => {
    if (msg) process.stderr.write(`${prog}: ${msg}\n`);
    process.stderr.write(text);
    process.exit(2);
  };
}

/**
 * Parses `--key VALUE` / `--key=VALUE` for every key in `options`, and bare
 * `--key` (value true) for every key in `flags`. -h/--help, a non-option
 * argument, an unknown key, a missing value or a value given to a flag: usage().
 * With no flags every --key takes a value, so an unknown key is reported after
 * its value is read (a trailing one reports the missing value); with flags, an
 * unknown key is reported at once.
 */
function parseArgs(argv, { options, flags = [] }, usage) {
  const known = new Set(options);
  const flagSet = new Set(flags);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') usage();
    if (!a.startsWith('--')) usage(`unexpected argument ${JSON.stringify(a)}`);
    a = a.slice(2);
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a;
    if (flagSet.has(key)) {
      if (eq >= 0) usage(`--${key} takes no value`);
      out[key] = true;
      continue;
    }
    if (flagSet.size && !known.has(key)) usage(`unknown option --${key}`);
    let val;
    if (eq >= 0) {
      val = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) usage(`--${key} needs a value`);
      val = argv[++i];
    }
    if (!known.has(key)) usage(`unknown option --${key}`);
    out[key] = val;
  }
  return out;
}

/** HOST:PORT, HOST a name/IPv4 address or a [bracketed] IPv6 address. */
const HOST_PORT_RE = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/;

/**
 * The services' command line: --name NAME --port PORT [--host H] [--mode M]
 * [--downstream D]. Checks all but --downstream (whose format differs) and
 * returns { name, port, host, mode, downstream (null if absent) }.
 */
function parseServiceArgs(usage, modes) {
  const args = parseArgs(process.argv.slice(2), {
    options: ['name', 'port', 'host', 'downstream', 'mode'],
  }, usage);
  if (!args.name) usage('--name is required');
  if (args.port === undefined) usage('--port is required');
  const port = Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${args.port}`);
  const mode = args.mode || 'propagate';
  if (!modes.includes(mode)) usage(`bad --mode ${mode}`);
  return {
    name: args.name,
    port,
    host: args.host || '127.0.0.1',
    mode,
    downstream: args.downstream || null,
  };
}

/**
 * The clients' options shared by send.js and grpc-send.js: --count N (required)
 * and --traceparent VALUE | --new-trace-each. Returns N.
 */
function checkCountAndTraceparent(args, usage) {
  if (args.count === undefined) usage('--count is required');
  const count = Number(args.count);
  if (!Number.isInteger(count) || count < 0) usage(`bad --count ${args.count}`);
  if (args.traceparent !== undefined && args['new-trace-each']) {
    usage('--traceparent and --new-trace-each are mutually exclusive');
  }
  return count;
}

// ---- traceparent ---------------------------------------------------------------

function nonZeroHex(bytes) {
  const crypto = require('crypto');
  for (;;) {
    const b = crypto.randomBytes(bytes);
    if (b.some((x) => x !== 0)) return b.toString('hex');
  }
}

/** A fresh random VALID traceparent: 00-<32 hex>-<16 hex>-01, ids never all-zero. */
function newTraceparent() {
  return `00-${nonZeroHex(16)}-${nonZeroHex(8)}-01`;
}

// ---- clients: N sequential calls and the JSON summary --------------------------

/**
 * Runs the client: `count` sequential calls of `callOnce(i, traceparent)`
 * (traceparent null = send none), each resolving { key, ok, error, body }:
 * key counts in status_counts, `error` (if set) goes into errors (first 10),
 * `body` becomes first/last_response (and responses). Then calls close(), prints
 * the JSON summary { ...head, count, sent, ok, failed, status_counts, errors,
 * traceparent_mode, traceparents_sent, ...extra, first_response, last_response,
 * [responses], duration_ms } and sets the exit status: 0 if every call was ok,
 * else 1 (also, with "PROG: error" on stderr, if anything throws).
 */
function runClient(prog, { args, count, head, extra = {}, callOnce, close }) {
  async function main() {
    const started = process.hrtime.bigint();
    const mode = args['new-trace-each']
      ? 'new-trace-each'
      : args.traceparent !== undefined
        ? 'fixed'
        : 'none';
    const summary = {
      ...head,
      count,
      sent: 0,
      ok: 0,
      failed: 0,
      status_counts: {},
      errors: [],
      traceparent_mode: mode,
      traceparents_sent: mode === 'fixed' ? [args.traceparent] : [],
      ...extra,
      first_response: null,
      last_response: null,
    };
    const responses = [];
    for (let i = 0; i < count; i++) {
      let tp = null;
      if (mode === 'fixed') tp = args.traceparent;
      else if (mode === 'new-trace-each') {
        tp = newTraceparent();
        summary.traceparents_sent.push(tp);
      }
      const r = await callOnce(i, tp);
      summary.sent++;
      summary.status_counts[r.key] = (summary.status_counts[r.key] || 0) + 1;
      if (r.ok) summary.ok++;
      else summary.failed++;
      if (r.error && summary.errors.length < 10) summary.errors.push(r.error);
      if (i === 0) summary.first_response = r.body;
      summary.last_response = r.body;
      if (args.responses) responses.push(r.body);
    }
    if (args.responses) summary.responses = responses;
    summary.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
    close();
    process.stdout.write(JSON.stringify(summary) + '\n');
    process.exitCode = summary.failed === 0 ? 0 : 1;
  }
  main().catch((err) => {
    process.stderr.write(`${prog}: ${err.stack || err}\n`);
    process.exit(1);
  });
}

// ---- services: OpenTelemetry SDK -------------------------------------------------

/**
 * Registers a NodeTracerProvider (ParentBased(AlwaysOn) sampler, set explicitly
 * so OTEL_TRACES_SAMPLER cannot change it) with ONE SimpleSpanProcessor whose
 * exporter only counts spans in memory (no exporter traffic), the W3C
 * trace-context propagator and an AsyncLocalStorage context manager; then the
 * instrumentations returned by makeInstrumentations(). Call it before requiring
 * the modules they patch. TG_PEER_DEBUG=1 turns on the diag logger (stderr).
 * Returns { api, suppressTracing, provider, exporter }.
 */
function setupTracing(makeInstrumentations) {
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
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  provider.register({
    contextManager: new AsyncLocalStorageContextManager(),
    propagator: new W3CTraceContextPropagator(),
  });
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: makeInstrumentations(),
  });
  return { api, suppressTracing, provider, exporter };
}

/**
 * On SIGTERM/SIGINT, calls stop() once; whatever happens, the process exits 0
 * at most 2 s later.
 */
function onStopSignal(stop) {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    stop();
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

// ---- bodies and protos -----------------------------------------------------------

/** Collects an http.IncomingMessage; calls done(parsed JSON, or the text if not JSON). */
function readBody(res, done) {
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
    done(body);
  });
}

/** The tracegap.test package of echo.proto, loaded with @grpc/proto-loader. */
function loadEchoProto(grpc) {
  const path = require('path');
  const protoLoader = require('@grpc/proto-loader');
  const packageDefinition = protoLoader.loadSync(path.join(__dirname, 'echo.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(packageDefinition).tracegap.test;
}

module.exports = {
  setTitleFromName,
  setTitle,
  warnLongName,
  makeUsage,
  parseArgs,
  HOST_PORT_RE,
  parseServiceArgs,
  checkCountAndTraceparent,
  newTraceparent,
  runClient,
  setupTracing,
  onStopSignal,
  readBody,
  loadEchoProto,
};
