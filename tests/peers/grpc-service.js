'use strict';
/*
 * tracegap end-to-end test peer: a REAL OpenTelemetry-instrumented gRPC service.
 *
 *   node grpc-service.js --name NAME --port PORT [--host 127.0.0.1]
 *                        [--downstream HOST:PORT] [--mode propagate|drop]
 *
 * - process.title is set to "tg-" + NAME before anything else (so the main
 *   thread's comm, /proc/PID/comm, is "tg-NAME", truncated by the kernel to 15
 *   bytes: keep NAME at most 12 characters). All gRPC/HTTP/2 socket I/O of
 *   @grpc/grpc-js happens on the main thread.
 * - OpenTelemetry set up exactly like http-service.js: NodeTracerProvider with a
 *   ParentBased(AlwaysOn) sampler, ONE SimpleSpanProcessor whose exporter only
 *   counts spans (no exporter traffic), the W3C trace-context propagator and an
 *   AsyncLocalStorage context manager; then the real GrpcInstrumentation is
 *   registered, and only then is @grpc/grpc-js required.
 * - Serves the unary method /tracegap.test.Echo/Echo (echo.proto, loaded with
 *   @grpc/proto-loader) on HOST:PORT without TLS, and prints "ready" on stdout.
 * - With --downstream HOST:PORT, ONE client (one channel, one HTTP/2
 *   connection) to the downstream is created at start-up and reused; every
 *   inbound call makes exactly ONE unary Echo call on it (10 s deadline), waits
 *   for it and replies with EchoReply
 *     { name, pid, mode, received_traceparent, outbound_traceparent,
 *       downstream, downstream_reply, message }
 *   ("" stands for "none" in the string fields). If the downstream call fails,
 *   the inbound call fails with the downstream's status code and a message
 *   starting "downstream: ".
 *   Without --downstream: { name, pid, received_traceparent, message }.
 * - SIGTERM/SIGINT: stops the server and the client, exits 0.
 *
 * Outbound traceparent per --mode (the inbound call carries a valid traceparent):
 *   propagate (default)  the call is made in the handler's active context: the
 *                        instrumentation starts a CLIENT span and injects
 *                        `traceparent: 00-<same trace-id>-<that span's id>-<flags>`
 *                        into the call's metadata.
 *   drop                 the call is made under suppressTracing(context.active()):
 *                        no span, and NO traceparent metadata.
 *
 * Environment: TG_PEER_DEBUG=1 enables the OpenTelemetry diag logger (stderr).
 */

// ---- 1. process title FIRST (common.js has no side effects) -----------------
const common = require('./common');

common.setTitleFromName();

// ---- 2. argument parsing -----------------------------------------------------
const MODES = ['propagate', 'drop'];

const usage = common.makeUsage(
  'grpc-service',
  'usage: node grpc-service.js --name NAME --port PORT [--host 127.0.0.1]\n' +
    '                            [--downstream HOST:PORT] [--mode propagate|drop]\n');

const { name: NAME, port: PORT, host: HOST, mode: MODE, downstream: DOWNSTREAM } =
  common.parseServiceArgs(usage, MODES);
if (DOWNSTREAM && !common.HOST_PORT_RE.test(DOWNSTREAM)) {
  usage(`bad --downstream ${DOWNSTREAM} (want HOST:PORT)`);
}
common.warnLongName('grpc-service', NAME);

// ---- 3. OpenTelemetry SDK (before @grpc/grpc-js is required) ----------------
const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');

const { api, suppressTracing, provider } = common.setupTracing(() => [new GrpcInstrumentation()]);

// ---- 4. the service ----------------------------------------------------------
const grpc = require('@grpc/grpc-js'); // patched by GrpcInstrumentation

const proto = common.loadEchoProto(grpc);

const DOWNSTREAM_DEADLINE_MS = 10000;

// The ONE long-lived client/channel to the downstream, created at start-up. grpc-js
// connects it lazily (on the first call) and keeps the HTTP/2 connection open.
const downstreamClient = DOWNSTREAM
  ? new proto.Echo(DOWNSTREAM, grpc.credentials.createInsecure(), {
      // No idle timeout: the one connection stays up for the life of the process.
      'grpc.client_idle_timeout_ms': 24 * 3600 * 1000,
    })
  : null;

function firstValue(metadata, key) {
  const v = metadata.get(key);
  if (!v.length) return '';
  return Buffer.isBuffer(v[0]) ? v[0].toString('utf8') : String(v[0]);
}

/** One unary call to the downstream; resolves {reply, outboundTraceparent}. */
function callDownstream(message) {
  return new Promise((resolve, reject) => {
    const metadata = new grpc.Metadata();
    const ctx = MODE === 'drop' ? suppressTracing(api.context.active()) : api.context.active();
    api.context.with(ctx, () => {
      // The instrumentation injects traceparent (or nothing, when suppressed) into
      // `metadata` before the call is started, so reading it back afterwards shows
      // exactly what went on the wire.
      downstreamClient.Echo(
        { message },
        metadata,
        { deadline: Date.now() + DOWNSTREAM_DEADLINE_MS },
        (err, reply) => {
          const outboundTraceparent = firstValue(metadata, 'traceparent');
          if (err) {
            err.outboundTraceparent = outboundTraceparent;
            reject(err);
          } else {
            resolve({ reply, outboundTraceparent });
          }
        });
    });
  });
}

function echo(call, callback) {
  const base = {
    name: NAME,
    pid: process.pid,
    received_traceparent: firstValue(call.metadata, 'traceparent'),
    message: call.request.message,
  };
  if (!downstreamClient) {
    callback(null, base);
    return;
  }
  Object.assign(base, { mode: MODE, downstream: DOWNSTREAM });
  callDownstream(call.request.message).then(
    ({ reply, outboundTraceparent }) =>
      callback(null, { ...base, outbound_traceparent: outboundTraceparent, downstream_reply: reply }),
    (err) =>
      callback({
        code: typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN,
        details: `downstream: ${err.details || err.message}`,
      }));
}

const server = new grpc.Server();
server.addService(proto.Echo.service, { Echo: echo });

const bindHost = HOST.includes(':') && !HOST.startsWith('[') ? `[${HOST}]` : HOST;
server.bindAsync(`${bindHost}:${PORT}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`grpc-service ${NAME}: ${err.stack || err}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});

common.onStopSignal(() => {
  server.forceShutdown();
  if (downstreamClient) downstreamClient.close();
  provider.shutdown().finally(() => process.exit(0));
});
