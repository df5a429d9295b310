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

const common = require('./common'); // no side effects

common.setTitle('grpc-client');

const crypto = require('crypto');

const usage = common.makeUsage(
  'grpc-send',
  'usage: node grpc-send.js --target HOST:PORT --count N [--traceparent VALUE | --new-trace-each]\n' +
    '                         [--pad BYTES] [--responses]\n');

const args = common.parseArgs(process.argv.slice(2), {
  options: ['target', 'count', 'traceparent', 'pad'],
  flags: ['new-trace-each', 'responses'],
}, usage);
if (!args.target) usage('--target is required');
if (!common.HOST_PORT_RE.test(args.target)) usage(`bad --target ${args.target} (want HOST:PORT)`);
const COUNT = common.checkCountAndTraceparent(args, usage);
const PAD = args.pad === undefined ? 200 : Number(args.pad);
if (!Number.isInteger(PAD) || PAD < 0 || PAD > 8192) usage(`bad --pad ${args.pad}`);

const grpc = require('@grpc/grpc-js');

const proto = common.loadEchoProto(grpc);
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

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

common.runClient('grpc-send', {
  args,
  count: COUNT,
  head: { target: args.target },
  extra: { pad_bytes: PAD },
  async callOnce(i, traceparent) {
    const r = await callOnce(i, traceparent);
    const key = STATUS_NAMES[r.code] || String(r.code);
    const ok = r.code === grpc.status.OK;
    return {
      key,
      ok,
      error: r.error ? `${key}: ${r.error}` : undefined,
      body: ok ? normalize(r.reply) : null,
    };
  },
  close: () => client.close(),
});
