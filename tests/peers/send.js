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

const common = require('./common'); // no side effects

common.setTitle('client');

const http = require('http');

const usage = common.makeUsage(
  'send',
  'usage: node send.js --url URL --count N [--traceparent VALUE | --new-trace-each] [--responses]\n');

const args = common.parseArgs(process.argv.slice(2), {
  options: ['url', 'count', 'traceparent'],
  flags: ['new-trace-each', 'responses'],
}, usage);
if (!args.url) usage('--url is required');
const COUNT = common.checkCountAndTraceparent(args, usage);
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
      common.readBody(res, (body) => resolve({ status: res.statusCode, body }));
      res.on('error', (err) => resolve({ status: null, error: err.message }));
    });
    req.setTimeout(15000, () => req.destroy(new Error('timeout after 15000 ms')));
    req.on('error', (err) => resolve({ status: null, error: err.message }));
  });
}

common.runClient('send', {
  args,
  count: COUNT,
  head: { url: url.href },
  async callOnce(i, traceparent) {
    const r = await getOnce(traceparent);
    return {
      key: r.status === null ? 'error' : String(r.status),
      ok: r.status !== null && r.status >= 200 && r.status < 300,
      error: r.error,
      body: r.status === null ? null : r.body,
    };
  },
  close: () => agent.destroy(),
});
