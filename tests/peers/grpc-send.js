'use strict';
/*
 * tracegap end-to-end test gRPC client (no inbound calls, no OpenTelemetry SDK).
 *
 *   node grpc-send.js --target HOST:PORT --count N
 *                     [--traceparent VALUE | --new-trace-each] [--pad BYTES]
 *                     [--responses]
 *
 * Makes N sequential unary /tracegap.test.Echo/Echo calls (echo.proto) over ONE
 * @grpc/grpc-js channel, i.e. one HTTP/2 connection and one HPACK compression
 * context: after the first call the header names (traceparent, x-pad) are HPACK
 * dynamic-table references, and with the per-call padding the 4 KiB dynamic table
 * keeps evicting (every call adds roughly 350 bytes of new entries).
 *   --traceparent VALUE  every call carries exactly this `traceparent` metadata
 *                        (verbatim, not validated: malformed values are OK).
 *   --new-trace-each     every call carries a fresh random VALID traceparent
 *                        "00-<32 hex>-<16 hex>-01" (lowercase, never all-zero ids).
 *   (neither)            no traceparent metadata.
 *   --pad BYTES          every call also carries `x-pad: <BYTES random hex chars>`,
 *                        different on every call (default 200; 0: no x-pad).
 *   --responses          include every reply in the summary.
 *
 * process.title is "tg-grpc-client" (so /proc/PID/comm is "tg-grpc-client").
 * Each call has a 15 s deadline. Prints one JSON summary on stdout:
 *   { target, count, sent, ok, failed, status_counts, errors, traceparent_mode,
 *     traceparents_sent, pad_bytes, first_response, last_response, [responses],
 *     duration_ms }
 * status_counts is keyed by gRPC status name ("OK", "UNAVAILABLE", ...). In the
 * replies, empty strings in the traceparent/mode/downstream fields are shown as null.
 * Exit status: 0 if all N calls succeeded, 1 otherwise, 2 on bad usage.
 */

process.title = 'tg-grpc-client';

const crypto = require('crypto');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`grpc-send: ${msg}\n`);
  process.stderr.write(
    'usage: node grpc-send.js --target HOST:PORT --count N [--traceparent VALUE | --new-trace-each]\n' +
      '                         [--pad BYTES] [--responses]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const withValue = new Set(['target', 'count', 'traceparent', 'pad']);
  const flags = new Set(['new-trace-each', 'responses']);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') usage();
    if (!a.startsWith('--')) usage(`unexpected argument ${JSON.stringify(a)}`);
    a = a.slice(2);
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a;
    if (flags.has(key)) {
      if (eq >= 0) usage(`--${key} takes no value`);
      out[key] = true;
    } else if (withValue.has(key)) {
      if (eq >= 0) {
        out[key] = a.slice(eq + 1);
      } else {
        if (i + 1 >= argv.length) usage(`--${key} needs a value`);
        out[key] = argv[++i];
      }
    } else {
      usage(`unknown option --${key}`);
    }
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (!args.target) usage('--target is required');
if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(args.target)) usage(`bad --target ${args.target} (want HOST:PORT)`);
if (args.count === undefined) usage('--count is required');
const COUNT = Number(args.count);
if (!Number.isInteger(COUNT) || COUNT < 0) usage(`bad --count ${args.count}`);
if (args.traceparent !== undefined && args['new-trace-each']) {
  usage('--traceparent and --new-trace-each are mutually exclusive');
}
const PAD = args.pad === undefined ? 200 : Number(args.pad);
if (!Number.isInteger(PAD) || PAD < 0 || PAD > 8192) usage(`bad --pad ${args.pad}`);

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const packageDefinition = protoLoader.loadSync(path.join(__dirname, 'echo.proto'), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const proto = grpc.loadPackageDefinition(packageDefinition).tracegap.test;
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

function nonZeroHex(bytes) {
  for (;;) {
    const b = crypto.randomBytes(bytes);
    if (b.some((x) => x !== 0)) return b.toString('hex');
  }
}

function newTraceparent() {
  return `00-${nonZeroHex(16)}-${nonZeroHex(8)}-01`;
}

function randomPad(n) {
  return crypto.randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
}

/** EchoReply as plain JSON; "" in the optional string fields becomes null. */
function normalize(reply) {
  if (!reply) return null;
  const out = { ...reply };
  for (const k of ['mode', 'received_traceparent', 'outbound_traceparent', 'downstream']) {
    if (out[k] === '' || out[k] === undefined) out[k] = null;
  }
  out.downstream_reply = normalize(out.downstream_reply);
  return out;
}

// ONE channel for all calls.
const client = new proto.Echo(args.target, grpc.credentials.createInsecure());

function callOnce(i, traceparent) {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    if (traceparent !== null) metadata.set('traceparent', traceparent);
    if (PAD > 0) metadata.set('x-pad', randomPad(PAD));
    client.Echo({ message: `call ${i}` }, metadata, { deadline: Date.now() + 15000 }, (err, reply) => {
      if (err) resolve({ code: err.code, error: err.details || err.message });
      else resolve({ code: grpc.status.OK, reply });
    });
  });
}

async function main() {
  const started = process.hrtime.bigint();
  const mode = args['new-trace-each']
    ? 'new-trace-each'
    : args.traceparent !== undefined
      ? 'fixed'
      : 'none';
  const summary = {
    target: args.target,
    count: COUNT,
    sent: 0,
    ok: 0,
    failed: 0,
    status_counts: {},
    errors: [],
    traceparent_mode: mode,
    traceparents_sent: mode === 'fixed' ? [args.traceparent] : [],
    pad_bytes: PAD,
    first_response: null,
    last_response: null,
  };
  const responses = [];
  for (let i = 0; i < COUNT; i++) {
    let tp = null;
    if (mode === 'fixed') tp = args.traceparent;
    else if (mode === 'new-trace-each') {
      tp = newTraceparent();
      summary.traceparents_sent.push(tp);
    }
    const r = await callOnce(i, tp);
    summary.sent++;
    const key = STATUS_NAMES[r.code] || String(r.code);
    summary.status_counts[key] = (summary.status_counts[key] || 0) + 1;
    if (r.code === grpc.status.OK) summary.ok++;
    else summary.failed++;
    if (r.error && summary.errors.length < 10) summary.errors.push(`${key}: ${r.error}`);
    const body = r.code === grpc.status.OK ? normalize(r.reply) : null;
    if (i === 0) summary.first_response = body;
    summary.last_response = body;
    if (args.responses) responses.push(body);
  }
  if (args.responses) summary.responses = responses;
  summary.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
  client.close();
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exitCode = summary.failed === 0 ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`grpc-send: ${err.stack || err}\n`);
  process.exit(1);
});
