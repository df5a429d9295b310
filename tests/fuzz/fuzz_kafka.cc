// Fuzzes the Kafka decoder (frame records of both directions, Produce requests and Fetch responses
// of every version, RecordBatches and records, requests in flight, loss and resync) the way the
// daemon drives it: the frame records of one connection's two directions, event by event (input
// format: the event script of fuzz_support.h).
//
// config byte:
//   bits 0-1  --max-header-bytes: 4096 (the default), 64 (the least the option allows), 300, or
//             8192 (the most)
//   bit 2     max_in_flight 2 (eviction reached by small inputs), else the default
//   bit 3     cut the events finely for the second run (1 to 3 bytes, else 1 to 257)
// ctl byte:
//   bit 7     the event is of the responses (else of the requests)
//   bits 0-2  all set: TG_DATA_LOST_BEFORE (one ctl in eight, so that most inputs stay in sync)
//   bit 3     TG_DATA_CONTINUATION (read only after a loss)
//   bit 4     Close() the connection before this event (a new connection on the same object)
//   bit 5     also set flags the decoder must ignore (TRUNCATED, NEW_CONN, KAFKA, KAFKA_REQUESTS)
//
// Checks: every report is well formed (a known kind and reason, complete exactly when the reason
// is kNone, a topic by name or by a 16-byte id, views into live memory), no Feed reports more than
// the per-frame limit allows, memory and buffered bytes stay under the decoder's stated bounds, the
// requests in flight under their limit, Close() leaves nothing, and the reports do not depend on
// how an event's bytes are cut: each input is run twice, the second time with every event split
// at pseudo-random points into several events (the loss on the first piece only, the later pieces
// flagged CONTINUATION as the kernel would), and both runs must report exactly the same.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocols/kafka/connection.h"
#include "protocols/kafka/errors.h"
#include "protocols/kafka/message.h"
#include "protocols/kafka/record_batch.h"
#include "tracegap.h"

namespace tracegap::kafka {
namespace {

using fuzz::ExactBytes;

constexpr std::array<std::size_t, 4> kCaps = {kDefaultCap, 64, 300, kMaxCap};

bool KnownErrorLabel(std::string_view reason) {
  return std::find(kErrorLabels.begin(), kErrorLabels.end(), reason) != kErrorLabels.end();
}

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out += kDigits[static_cast<uint8_t>(c) >> 4];
    out += kDigits[static_cast<uint8_t>(c) & 0xf];
  }
  return out;
}

// Checks every report and logs it as text (the views die with the call), headers included, so
// the two runs can be compared exactly. Appending a view copies every byte of it, so ASan also
// checks that each view points into live memory.
class CheckingSink final : public MessageSink {
 public:
  explicit CheckingSink(std::size_t cap) : cap_(cap) {}

  void OnMessage(const Message& m) override {
    FUZZ_CHECK(Label(m.kind) != kInvalidLabel);
    FUZZ_CHECK(m.complete == (m.incomplete_reason == Error::kNone));
    if (!m.complete) FUZZ_CHECK(KnownErrorLabel(Label(m.incomplete_reason)));
    FUZZ_CHECK(m.topic_id.empty() || (m.topic_id.size() == 16 && m.topic.empty()));
    FUZZ_CHECK(m.topic.size() <= cap_);
    // Messages come from Produce requests (the requests' side) and Fetch responses.
    if (side_ == Side::kRequests) FUZZ_CHECK(m.kind == MessageKind::kProduce);
    if (side_ == Side::kResponses) FUZZ_CHECK(m.kind == MessageKind::kFetch);
    ++feed_messages;
    std::string s = std::string(Label(m.kind)) + " " + Hex(m.topic) + " " + Hex(m.topic_id) + " p" +
                    std::to_string(m.partition) + " c" + std::to_string(m.correlation_id) + " v" +
                    std::to_string(m.api_version) +
                    (m.complete ? " complete" : " " + std::string(Label(m.incomplete_reason)));
    for (const HeaderField& f : m.headers) {
      // HeaderField's contract: no leading or trailing SP/HTAB in a value.
      FUZZ_CHECK(f.value.empty() || (!IsOws(f.value.front()) && !IsOws(f.value.back())));
      FUZZ_CHECK(f.name.size() <= cap_ && f.value.size() <= cap_);
      s.append(" {").append(Hex(f.name)).append("}={").append(Hex(f.value)).append("}");
    }
    log.push_back(std::move(s));
  }

  void OnError(Error error) override {
    FUZZ_CHECK(KnownErrorLabel(Label(error)));
    log.push_back("error " + std::string(Label(error)));
  }

  // What the next reports come from: one side (a Feed), or both (a Close).
  void Begin(std::optional<Side> side) {
    side_ = side;
    feed_messages = 0;
  }

  std::vector<std::string> log;
  std::size_t feed_messages = 0;

 private:
  std::size_t cap_;
  std::optional<Side> side_;
};

struct Run {
  Run(std::size_t cap, std::size_t max_in_flight)
      : cap(cap),
        max_in_flight(max_in_flight),
        connection(cap, max_in_flight),
        sink(cap),
        bound(Connection::MemoryBound(cap, max_in_flight)) {}

  // The event's bytes live only during the call, as a ring buffer record does: a view kept past
  // it would be a use after free.
  void Feed(bool requests, std::string_view bytes, uint16_t flags) {
    const ExactBytes copy(bytes);
    sink.Begin(requests ? Side::kRequests : Side::kResponses);
    connection.Feed(requests, copy.view(), flags, sink);
    // The per-frame limit: a Feed ends at most one frame per 8 bytes (the shortest header), plus
    // the one in progress before it and the one a loss ends.
    FUZZ_CHECK(sink.feed_messages <=
               kMaxMessagesPerFrame * (bytes.size() / kResponseHeaderLen + 2));
    if (connection.memory_bytes() > bound) {
      std::fprintf(stderr, "memory_bytes %zu > bound %zu\n", connection.memory_bytes(), bound);
      FUZZ_CHECK(connection.memory_bytes() <= bound);
    }
    FUZZ_CHECK(connection.requests().buffered_bytes() <= kRequestHeaderLen + cap);
    FUZZ_CHECK(connection.responses().buffered_bytes() <= kResponseHeaderLen + cap);
    FUZZ_CHECK(connection.in_flight().size() <= max_in_flight);
  }

  // What the connection looks like from outside after an event.
  void Snapshot() {
    sink.log.push_back("state in_flight " + std::to_string(connection.in_flight().size()) +
                       " buffered " + std::to_string(connection.requests().buffered_bytes()) + "/" +
                       std::to_string(connection.responses().buffered_bytes()) +
                       (connection.requests().skipping() ? " skipping_requests" : "") +
                       (connection.responses().skipping() ? " skipping_responses" : ""));
  }

  void Close() {
    sink.Begin(std::nullopt);
    connection.Close(sink);
    // "the instance is as if new": nothing held.
    FUZZ_CHECK(connection.in_flight().size() == 0);
    FUZZ_CHECK(connection.requests().buffered_bytes() == 0);
    FUZZ_CHECK(connection.responses().buffered_bytes() == 0);
    FUZZ_CHECK(connection.memory_bytes() == 0);
    FUZZ_CHECK(!connection.requests().skipping() && !connection.responses().skipping());
  }

  std::size_t cap;
  std::size_t max_in_flight;
  Connection connection;
  CheckingSink sink;
  std::size_t bound;
};

uint16_t FlagsOf(uint8_t ctl) {
  uint16_t flags = 0;
  if ((ctl & 0x07) == 0x07) flags |= TG_DATA_LOST_BEFORE;
  if ((ctl & 0x08) != 0) flags |= TG_DATA_CONTINUATION;
  if ((ctl & 0x20) != 0) {
    flags |= TG_DATA_TRUNCATED | TG_DATA_NEW_CONN | TG_DATA_KAFKA | TG_DATA_KAFKA_REQUESTS;
  }
  return flags;
}

// Runs the script on a new connection; returns everything it reported. With `splitter`, each
// event is cut further at the points it draws.
std::vector<std::string> Execute(const fuzz::Script& script, std::size_t cap,
                                 std::size_t max_in_flight, fuzz::Rng* splitter) {
  Run run(cap, max_in_flight);
  const bool fine = (script.config & 0x08) != 0;
  for (const fuzz::ScriptEvent& e : script.events) {
    if ((e.ctl & 0x10) != 0) run.Close();
    const bool requests = (e.ctl & 0x80) == 0;
    uint16_t flags = FlagsOf(e.ctl);
    if (splitter == nullptr) {
      run.Feed(requests, e.bytes, flags);
    } else {
      std::string_view rest = e.bytes;
      do {
        const std::size_t n = std::min(rest.size(), splitter->Between(1, fine ? 3 : 257));
        run.Feed(requests, rest.substr(0, n), flags);
        rest.remove_prefix(n);
        // The later pieces begin inside the event's bytes: the kernel would flag them so (it may
        // also flag none, when a piece happens to begin at a record; the decoder reads the flag
        // only while skipping, where every piece of the event is skipped either way).
        flags = static_cast<uint16_t>((flags & ~TG_DATA_LOST_BEFORE) | TG_DATA_CONTINUATION);
      } while (!rest.empty());
    }
    run.Snapshot();
  }
  run.Close();
  return std::move(run.sink.log);
}

}  // namespace
}  // namespace tracegap::kafka

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap::kafka;  // NOLINT: this file's own helpers
  const tracegap::fuzz::Script script = tracegap::fuzz::ParseScript(data, size);
  const std::size_t cap = kCaps[script.config & 3];
  const std::size_t max_in_flight = (script.config & 0x04) != 0 ? 2 : InFlight::kDefaultMax;

  const std::vector<std::string> whole = Execute(script, cap, max_in_flight, nullptr);
  tracegap::fuzz::Rng rng(tracegap::fuzz::Fnv1a(data, size));
  const std::vector<std::string> cut = Execute(script, cap, max_in_flight, &rng);
  if (whole != cut || tracegap::fuzz::Verbose()) {
    tracegap::fuzz::PrintLog("events as given:", whole);
    tracegap::fuzz::PrintLog("events cut further:", cut);
    FUZZ_CHECK(whole == cut);
  }
  return 0;
}
