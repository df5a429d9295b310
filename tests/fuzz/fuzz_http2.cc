// Fuzzes the HTTP/2 connection decoder (frame parser, header blocks, HPACK through nghttp2, stream
// tracking) the way the daemon drives it: frame records of both directions of one connection,
// event by event (input format: the event script of fuzz_support.h).
//
// config byte:
//   bits 0-1  limits profile (MakeProfile): the defaults, or small limits so that the too-large,
//             flood and eviction paths are reached by small inputs
//   bit 2     give the connection a client-direction hint first (SetClientDirection), ...
//   bit 3     ... saying the client is the ingress side (else egress)
//   bit 4     cut the events finely for the second run (1 to 3 bytes, else 1 to 257)
// ctl byte:
//   bit 0     direction: 0 egress, 1 ingress
//   bit 1     TG_DATA_H2_FROM_START
//   bits 2-4  all set: TG_DATA_LOST_BEFORE (one ctl in eight, so that most inputs stay in sync)
//   bit 5     Close() the connection before this event (a new connection on the same object)
//   bit 6     also set flags the decoder must ignore (CONTINUATION, TRUNCATED, NEW_CONN)
//
// Checks: every report satisfies connection.h (no query in a path, empty views when not decoded,
// known error labels, ...), memory stays under a bound derived from the limits, and the reports do
// not depend on how an event's bytes are cut: each input is run twice, the second time with every
// event split at pseudo-random points into several events of the same direction and flags (loss
// only on the first piece), and both runs must report exactly the same.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocols/http2/connection.h"
#include "protocols/http2/errors.h"
#include "protocols/http2/frame_parser.h"
#include "protocols/http2/hpack.h"
#include "tracegap.h"

namespace tracegap::http2 {
namespace {

using fuzz::ExactBytes;

Limits MakeProfile(int i) {
  Limits l;
  switch (i) {
    case 1:  // small, but as recommended: a block within its limit fits in one frame
      l.hpack.max_block_bytes = 1024;
      l.hpack.max_decoded_bytes = 2048;
      l.hpack.max_table_size = 1024;
      l.max_payload = 1024 + 261;
      l.max_continuations = 4;
      l.max_streams = 8;
      break;
    case 2:  // tiny, and against the recommendation (payload limit below the block limit)
      l.hpack.max_block_bytes = 128;
      l.hpack.max_decoded_bytes = 256;
      l.hpack.max_table_size = 256;
      l.max_payload = 64;
      l.max_continuations = 2;
      l.max_streams = 2;
      break;
    case 3:  // default decoding, few streams (eviction, GOAWAY over many streams)
      l.max_streams = 4;
      break;
    default:
      break;
  }
  return l;
}

// What Connection::buffer_capacity() may reach, per connection.h's memory promise: per direction
// one frame payload buffer and one block's decoded fields. std::string may double a capacity it
// grows (libstdc++ does when the request is below twice the old one), and the parser keeps up to
// kRetainBytes between frames, hence the factors.
std::size_t MemoryBound(const Limits& l) {
  const std::size_t payload =
      std::max(l.max_payload, 2 * std::min(l.max_payload, FrameParser::kRetainBytes));
  const std::size_t arena = 2 * std::max(l.hpack.max_decoded_bytes, std::size_t{1024});
  return 2 * (payload + arena + 64);
}

constexpr std::string_view kDirNames[] = {"out", "in"};

bool KnownErrorLabel(std::string_view reason) {
  return std::find(kErrorLabels.begin(), kErrorLabels.end(), reason) != kErrorLabels.end();
}

void CheckNoQuery(std::string_view path) {
  FUZZ_CHECK(path.find_first_of("?#") == std::string_view::npos);
}

// Checks every report and logs it as text (the views die with the call), fields included, so the
// two runs can be compared exactly. Appending a view copies every byte of it, so ASan also checks
// that each view points into live memory.
class CheckingSink final : public StreamSink {
 public:
  void OnRequest(const StreamRequest& r) override {
    FUZZ_CHECK(r.direction == Direction::kEgress || r.direction == Direction::kIngress);
    FUZZ_CHECK(r.stream_id % 2 == 1);  // only client-initiated streams are reported
    FUZZ_CHECK(r.protocol == Protocol::kHttp2 || r.protocol == Protocol::kGrpc);
    if (!r.decoded) {
      FUZZ_CHECK(r.method.empty() && r.path.empty() && r.authority.empty() &&
                 r.content_type.empty() && r.headers.empty() && r.protocol == Protocol::kHttp2);
    }
    CheckNoQuery(r.path);
    std::string s = "req " + std::string(kDirNames[Index(r.direction)]) + " " +
                    std::to_string(r.stream_id) + (r.decoded ? " decoded" : " undecoded") +
                    (r.end_stream ? " es " : " ") + std::string(Label(r.protocol));
    s.append(" [").append(r.method).append("] [").append(r.path).append("] [");
    s.append(r.authority).append("] [").append(r.content_type).append("]");
    if (r.decoded) {
      FUZZ_CHECK((r.protocol == Protocol::kGrpc) ==
                 StartsWithLower(r.content_type, "application/grpc"));
    }
    for (const HeaderField& f : r.headers) {
      // HPACK names are lowercased by the decoder; the trace-context code relies on it.
      FUZZ_CHECK(
          std::none_of(f.name.begin(), f.name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
      s.append(" {").append(f.name).append("}={").append(f.value).append("}");
    }
    log.push_back(std::move(s));
  }

  void OnResponse(const StreamResponse& r) override {
    FUZZ_CHECK(r.stream_id % 2 == 1);
    if (!r.decoded) FUZZ_CHECK(r.status == 0 && r.headers.empty());
    // Any three digits are taken as they are, except 1xx: interim, never the response itself.
    FUZZ_CHECK(r.status <= 999 && (r.status < 100 || r.status >= 200));
    std::string s = "resp " + std::string(kDirNames[Index(r.direction)]) + " " +
                    std::to_string(r.stream_id) + (r.decoded ? " decoded " : " undecoded ") +
                    std::to_string(r.status);
    for (const HeaderField& f : r.headers) {
      s.append(" {").append(f.name).append("}={").append(f.value).append("}");
    }
    log.push_back(std::move(s));
  }

  void OnStreamEnd(const StreamEnd& e) override {
    FUZZ_CHECK(e.reason <= StreamEndReason::kClosed);
    FUZZ_CHECK(e.stream_id % 2 == 1);
    log.push_back("end " + std::string(kDirNames[Index(e.request_direction)]) + " " +
                  std::to_string(e.stream_id) + " " + std::to_string(static_cast<int>(e.reason)) +
                  (e.response_seen ? " resp" : ""));
  }

  void OnError(std::string_view reason) override {
    FUZZ_CHECK(KnownErrorLabel(reason));
    log.push_back("error " + std::string(reason));
  }

  std::vector<std::string> log;

 private:
  static std::size_t Index(Direction d) { return static_cast<std::size_t>(d) & 1; }
};

struct Run {
  explicit Run(const Limits& limits) : limits(limits), conn(limits), bound(MemoryBound(limits)) {}

  // The event's bytes live only during the call, as a ring buffer record does: a view kept past
  // it would be a use after free.
  void Feed(Direction dir, std::string_view bytes, uint16_t flags) {
    const ExactBytes copy(bytes);
    conn.Feed(dir, copy.view(), flags, sink);
    if (conn.buffer_capacity() > bound) {
      std::fprintf(stderr, "buffer_capacity %zu > bound %zu\n", conn.buffer_capacity(), bound);
      FUZZ_CHECK(conn.buffer_capacity() <= bound);
    }
    FUZZ_CHECK(conn.tracked_streams() <= limits.max_streams);
  }

  // Logs what the connection looks like from outside after an event.
  void Snapshot() {
    const auto client = conn.client_direction();
    sink.log.push_back("state " + std::string(Label(conn.state())) + " streams " +
                       std::to_string(conn.tracked_streams()) + " client " +
                       (client ? std::string(kDirNames[static_cast<int>(*client) & 1]) : "?"));
  }

  void Close() {
    conn.Close(sink);
    // "the instance is as if new": nothing held beyond empty containers.
    FUZZ_CHECK(conn.tracked_streams() == 0);
    FUZZ_CHECK(conn.state() == State::kSynced);
    FUZZ_CHECK(!conn.client_direction().has_value());
    FUZZ_CHECK(conn.buffer_capacity() <= 64);
  }

  Limits limits;
  Connection conn;
  CheckingSink sink;
  std::size_t bound;
};

uint16_t FlagsOf(uint8_t ctl) {
  uint16_t flags = TG_DATA_HTTP2;
  if ((ctl & 0x02) != 0) flags |= TG_DATA_H2_FROM_START;
  if ((ctl & 0x1c) == 0x1c) flags |= TG_DATA_LOST_BEFORE;
  if ((ctl & 0x40) != 0) flags |= TG_DATA_CONTINUATION | TG_DATA_TRUNCATED | TG_DATA_NEW_CONN;
  return flags;
}

// Runs the script on a new Connection; returns everything it reported. With `splitter`, each
// event is cut further at the points it draws.
std::vector<std::string> Execute(const fuzz::Script& script, const Limits& limits,
                                 fuzz::Rng* splitter) {
  Run run(limits);
  if ((script.config & 0x04) != 0) {
    run.conn.SetClientDirection((script.config & 0x08) != 0 ? Direction::kIngress
                                                            : Direction::kEgress);
  }
  const bool fine = (script.config & 0x10) != 0;
  for (const fuzz::ScriptEvent& e : script.events) {
    if ((e.ctl & 0x20) != 0) run.Close();
    const Direction dir = (e.ctl & 1) != 0 ? Direction::kIngress : Direction::kEgress;
    uint16_t flags = FlagsOf(e.ctl);
    if (splitter == nullptr) {
      run.Feed(dir, e.bytes, flags);
    } else {
      std::string_view rest = e.bytes;
      do {
        const std::size_t n = std::min(rest.size(), splitter->Between(1, fine ? 3 : 257));
        run.Feed(dir, rest.substr(0, n), flags);
        rest.remove_prefix(n);
        flags &= static_cast<uint16_t>(~TG_DATA_LOST_BEFORE);  // one loss, before the first piece
      } while (!rest.empty());
    }
    run.Snapshot();
  }
  run.Close();
  return std::move(run.sink.log);
}

}  // namespace
}  // namespace tracegap::http2

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap::http2;  // NOLINT: this file's own helpers
  const tracegap::fuzz::Script script = tracegap::fuzz::ParseScript(data, size);
  const Limits limits = MakeProfile(script.config & 3);

  const std::vector<std::string> whole = Execute(script, limits, nullptr);
  tracegap::fuzz::Rng rng(tracegap::fuzz::Fnv1a(data, size));
  const std::vector<std::string> cut = Execute(script, limits, &rng);
  if (whole != cut || tracegap::fuzz::Verbose()) {
    tracegap::fuzz::PrintLog("events as given:", whole);
    tracegap::fuzz::PrintLog("events cut further:", cut);
    FUZZ_CHECK(whole == cut);
  }
  return 0;
}
