'use strict';
/*
 * tracegap end-to-end test peer: a REAL WebSocket echo server and client (npm ws),
 * no OpenTelemetry SDK.
 *
 *   node ws-peer.js --role server --port P [--host 127.0.0.1] [--name NAME]
 *   node ws-peer.js --role client --url ws://127.0.0.1:P/PATH --frames N
 *                   [--traceparent TP] [--name NAME]
 *
 * process.title is "tg-" + NAME, set first (default NAME: ws-srv, ws-cli).
 * permessage-deflate is OFF on both sides, so payloads go on the wire as is.
 *
 * server  A ws WebSocketServer attached to a plain http.createServer: the
 *         upgrade is an HTTP/1.1 GET answered with 101 (any path). A plain
 *         HTTP request without Upgrade gets 426. Echoes every message back
 *         (text as text, binary as binary). Prints "ready"; exits 0 on
 *         SIGTERM/SIGINT.
 *
 * client  Opens ONE connection (the handshake GET carries "traceparent: TP"
 *         if given), then sends N messages ONE AT A TIME, waiting for each
 *         echo before the next, cycling through four payload kinds:
 *           0 http1-request   text "GET /x HTTP/1.1\r\nHost: a\r\n
 *                             traceparent: <fresh valid>\r\n\r\n"
 *           1 http1-response  text "HTTP/1.1 200 OK\r\n\r\n"
 *           2 h2-preface      binary "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + an empty
 *                             SETTINGS frame header (00 00 00 04 00 00 00 00 00)
 *           3 h2-frames       binary: a SETTINGS ACK frame, then a HEADERS frame
 *                             (stream 1, END_STREAM|END_HEADERS) whose HPACK block
 *                             is :method GET, :scheme http, :path /, :authority a
 *                             and a literal "traceparent: <fresh valid>"
 *         Every payload is < 126 bytes, so each frame header is 2 bytes (6 with
 *         the client's mask). Client frames are masked (on the wire they do not
 *         look like HTTP), the server's are not: every echo is one server write
 *         of a 2-byte frame header followed by the HTTP-looking bytes.
 *         Then closes with 1000, waits for the close, prints one JSON line
 *           { url, frames, sent, echoed, mismatched, handshake_traceparent,
 *             kinds, traceparents_in_payloads, duration_ms }
 *         Exit 0 if every echo came back identical, 1 otherwise (also after
 *         30 s without finishing), 2 on bad usage.
 */

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

const DEFAULT_NAMES = { server: 'ws-srv', client: 'ws-cli' };

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
const usage = common.makeUsage(
  'ws-peer',
  'usage: node ws-peer.js --role server --port P [--host 127.0.0.1] [--name NAME]\n' +
    '       node ws-peer.js --role client --url ws://127.0.0.1:P/PATH --frames N\n' +
    '                       [--traceparent TP] [--name NAME]\n');

const ROLE_OPTIONS = {
  server: ['port', 'host'],
  client: ['url', 'frames', 'traceparent'],
};
const args = common.parseArgs(process.argv.slice(2), {
  options: ['role', 'name', 'port', 'host', 'url', 'frames', 'traceparent'],
}, usage);
const ROLE = args.role;
if (!ROLE) usage('--role is required');
if (!ROLE_OPTIONS[ROLE]) usage(`bad --role ${ROLE}`);
for (const k of Object.keys(args)) {
  if (!['role', 'name', ...ROLE_OPTIONS[ROLE]].includes(k)) {
    usage(`--${k} is not an option of --role ${ROLE}`);
  }
}
const NAME = args.name || DEFAULT_NAMES[ROLE];
common.warnLongName('ws-peer', NAME);

function fail(err) {
  process.stderr.write(`ws-peer ${NAME}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

// ---- 3. server -------------------------------------------------------------------

function runServer() {
  if (args.port === undefined) usage('--port is required');
  const port = Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${args.port}`);
  const host = args.host || '127.0.0.1';

  const http = require('http');
  const { WebSocketServer } = require('ws');

  const server = http.createServer((req, res) => {
    req.resume();
    const body = 'websocket only\n';
    res.writeHead(426, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
      upgrade: 'websocket',
    });
    res.end(body);
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  wss.on('error', fail);
  server.on('error', fail);
  server.listen(port, host, () => process.stdout.write('ready\n'));

  common.onStopSignal(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

// ---- 4. client -------------------------------------------------------------------

const KINDS = ['http1-request', 'http1-response', 'h2-preface', 'h2-frames'];

function h2FrameHeader(length, type, flags, stream) {
  const b = Buffer.alloc(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  return b;
}

/** HPACK literal header field with incremental indexing, new (literal) name, no Huffman. */
function hpackLiteral(name, value) {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('hpackLiteral: too long');
  return Buffer.concat([Buffer.from([0x40, n.length]), n, Buffer.from([v.length]), v]);
}

/** [payload (string for text, Buffer for binary), traceparent in it or null] */
function payload(i) {
  switch (i % 4) {
    case 0: {
      const tp = common.newTraceparent();
      return [`GET /x HTTP/1.1\r\nHost: a\r\ntraceparent: ${tp}\r\n\r\n`, tp];
    }
    case 1:
      return ['HTTP/1.1 200 OK\r\n\r\n', null];
    case 2:
      return [Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        h2FrameHeader(0, 4, 0, 0), // empty SETTINGS
      ]), null];
    default: {
      const tp = common.newTraceparent();
      const block = Buffer.concat([
        Buffer.from([0x82, 0x86, 0x84]), // :method GET, :scheme http, :path / (static table)
        Buffer.from([0x41, 0x01]), Buffer.from('a'), // :authority a (indexed name, literal value)
        hpackLiteral('traceparent', tp),
      ]);
      return [Buffer.concat([
        h2FrameHeader(0, 4, 0x01, 0), // SETTINGS ACK
        h2FrameHeader(block.length, 1, 0x05, 1), // HEADERS, END_STREAM|END_HEADERS, stream 1
        block,
      ]), tp];
    }
  }
}

function runClient() {
  if (!args.url) usage('--url is required');
  let url;
  try {
    url = new URL(args.url);
  } catch (e) {
    usage(`bad --url ${args.url}`);
  }
  if (url.protocol !== 'ws:') usage('--url must be a ws:// URL');
  if (args.frames === undefined) usage('--frames is required');
  const frames = Number(args.frames);
  if (!Number.isInteger(frames) || frames < 0) usage(`bad --frames ${args.frames}`);

  const WebSocket = require('ws');
  const started = process.hrtime.bigint();
  const summary = {
    url: url.href,
    frames,
    sent: 0,
    echoed: 0,
    mismatched: 0,
    handshake_traceparent: args.traceparent === undefined ? null : args.traceparent,
    kinds: Object.fromEntries(KINDS.map((k) => [k, 0])),
    traceparents_in_payloads: [],
  };
  const finish = (code) => {
    summary.duration_ms = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(JSON.stringify(summary) + '\n');
    process.exit(code);
  };
  const timer = setTimeout(() => {
    process.stderr.write(`ws-peer ${NAME}: not finished after 30 s\n`);
    finish(1);
  }, 30000);

  const headers = {};
  if (args.traceparent !== undefined) headers.traceparent = args.traceparent;
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  let expected = null;

  function sendNext() {
    if (summary.sent === frames) {
      ws.close(1000, 'done');
      return;
    }
    const i = summary.sent;
    const [data, tp] = payload(i);
    if (tp) summary.traceparents_in_payloads.push(tp);
    summary.kinds[KINDS[i % 4]]++;
    expected = { data: Buffer.from(data), binary: Buffer.isBuffer(data) };
    summary.sent++;
    ws.send(data, { binary: Buffer.isBuffer(data) });
  }

  ws.on('open', sendNext);
  ws.on('message', (data, isBinary) => {
    const got = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    if (!expected || isBinary !== expected.binary || !got.equals(expected.data)) summary.mismatched++;
    else summary.echoed++;
    expected = null;
    sendNext();
  });
  ws.on('close', () => {
    clearTimeout(timer);
    finish(summary.echoed === frames && summary.mismatched === 0 ? 0 : 1);
  });
  ws.on('error', (err) => {
    process.stderr.write(`ws-peer ${NAME}: ${err.message}\n`);
    clearTimeout(timer);
    finish(1);
  });
}

({ server: runServer, client: runClient })[ROLE]();
