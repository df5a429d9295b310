'use strict';
/*
 * tracegap end-to-end test client (no inbound requests, no OpenTelemetry SDK).
 *
 *   node send.js --url URL --count N [--traceparent VALUE | --new-trace-each]
 *                [--responses]
 *
 * Sends N sequential HTTP GETs to URL over one keep-alive connection.
 *   --traceparent VALUE  every request carries exactly this traceparent header
 *                        (sent verbatim, not validated: malformed values are OK).
 *   --new-trace-each     every request carries a fresh random VALID traceparent
 *                        "00-<32 hex trace-id>-<16 hex parent-id>-01" (lowercase,
 *                        never all-zero), generated here with crypto.randomBytes.
 *   (neither)            no traceparent header is sent.
 *   --responses          include every parsed response body in the summary.
 *
 * process.title is "tg-client" (so /proc/PID/comm is "tg-client").
 * Prints one JSON summary on stdout:
 *   { url, count, sent, ok, failed, status_counts, errors, traceparent_mode,
 *     traceparents_sent, first_response, last_response, [responses], duration_ms }
 * Exit status: 0 if all N requests got a 2xx response, 1 otherwise, 2 on bad usage.
 */

process.title = 'tg-client';

const http = require('http');
const crypto = require('crypto');

function usage(msg) {
  if (msg) process.stderr.write(`send: ${msg}\n`);
  process.stderr.write(
    'usage: node send.js --url URL --count N [--traceparent VALUE | --new-trace-each] [--responses]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const withValue = new Set(['url', 'count', 'traceparent']);
  const flags = new Set(['new-trace-each', 'responses']);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') usage();
    if (!a.startsWith('--')) usage(`unexpected argument ${JSON.stringify(a)}`);
    a = a.slice(2);
    const eq = a.indexOf('=');
    let key = eq >= 0 ? a.slice(0, eq) : a;
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

function nonZeroHex(bytes) {
  for (;;) {
    const b = crypto.randomBytes(bytes);
    if (b.some((x) => x !== 0)) return b.toString('hex');
  }
}

function newTraceparent() {
  return `00-${nonZeroHex(16)}-${nonZeroHex(8)}-01`;
}

const args = parseArgs(process.argv.slice(2));
if (!args.url) usage('--url is required');
if (args.count === undefined) usage('--count is required');
const COUNT = Number(args.count);
if (!Number.isInteger(COUNT) || COUNT < 0) usage(`bad --count ${args.count}`);
if (args.traceparent !== undefined && args['new-trace-each']) {
  usage('--traceparent and --new-trace-each are mutually exclusive');
}
let url;
try {
  url = new URL(args.url);
} catch (e) {
  usage(`bad --url ${args.url}`);
}
if (url.protocol !== 'http:') usage('--url must be an http:// URL');

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function getOnce(traceparent) {
  return new Promise((resolve) => {
    const headers = {};
    if (traceparent !== null) headers.traceparent = traceparent;
    const req = http.get(url, { agent, headers }, (res) => {
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
        resolve({ status: res.statusCode, body });
      });
      res.on('error', (err) => resolve({ status: null, error: err.message }));
    });
    req.setTimeout(15000, () => req.destroy(new Error('timeout after 15000 ms')));
    req.on('error', (err) => resolve({ status: null, error: err.message }));
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
    url: url.href,
    count: COUNT,
    sent: 0,
    ok: 0,
    failed: 0,
    status_counts: {},
    errors: [],
    traceparent_mode: mode,
    traceparents_sent: mode === 'fixed' ? [args.traceparent] : [],
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
    const r = await getOnce(tp);
    summary.sent++;
    const key = r.status === null ? 'error' : String(r.status);
    summary.status_counts[key] = (summary.status_counts[key] || 0) + 1;
    if (r.status !== null && r.status >= 200 && r.status < 300) summary.ok++;
    else summary.failed++;
    if (r.error && summary.errors.length < 10) summary.errors.push(r.error);
    const body = r.status === null ? null : r.body;
    if (i === 0) summary.first_response = body;
    summary.last_response = body;
    if (args.responses) responses.push(body);
  }
  if (args.responses) summary.responses = responses;
  summary.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
  agent.destroy();
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exitCode = summary.failed === 0 ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`send: ${err.stack || err}\n`);
  process.exit(1);
});
