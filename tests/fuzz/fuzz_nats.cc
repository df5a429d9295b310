// Fuzzes the NATS decoder (control lines, long lines, header blocks, loss and resync) the way the
// daemon drives it: the record stream of one direction of one connection, event by event (input
// format: the event script of fuzz_support.h).
//
// config byte:
//   bits 0-1  --max-header-bytes: 4096 (the default), 64 (the least the option allows), 300, or
//             12 (below any real setting: most lines are too long, every block is cut)
//   bit 3     cut the events finely for the second run (1 to 3 bytes, else 1 to 257)
// ctl byte:
//   bits 0-2  all set: TG_DATA_LOST_BEFORE (one ctl in eight, so that most inputs stay in sync)
//   bit 3     TG_DATA_CONTINUATION (read only after a loss)
//   bit 4     Close() the decoder before this event (a new connection on the same object)
//   bit 5     also set flags the decoder must ignore (TRUNCATED, NEW_CONN, HTTP2, H2_FROM_START)
//
// Checks: every report is well formed (a known kind and reason, complete exactly when the reason
// is kNone, a message without a header block complete and without fields, field names that are
// tokens and values without surrounding whitespace, subject, reply-to and sid single fields, a
// status of three digits, views into live memory), memory and buffered bytes stay under the
// decoder's stated bounds, Close() leaves nothing, and the reports do not depend on how an
// event's bytes are cut: each input is run twice, the second time with every event split at
// pseudo-random points into several events (the loss on the first piece only, the later pieces
// flagged CONTINUATION as the kernel would), and both runs must report exactly the same.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocols/nats/direction_decoder.h"
#include "protocols/nats/errors.h"
#include "protocols/nats/line.h"
#include "protocols/nats/message.h"
#include "tracegap.h"

namespace tracegap::nats {
namespace {

constexpr std::array<std::size_t, 4> kCaps = {kDefaultCap, 64, 300, 12};

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

// A field of a control line: what lies between separators, never a separator or a line end.
bool IsLineField(std::string_view s) {
  return s.find_first_of(" \t") == std::string_view::npos &&
         s.find("\r\n") == std::string_view::npos;
}

// Checks every report and logs it as text (the views die with the call), fields included, so
// the two runs can be compared exactly. Appending a view copies every byte of it, so ASan also
// checks that each view points into live memory.
class CheckingSink final : public MessageSink {
 public:
  explicit CheckingSink(std::size_t cap) : cap_(cap) {}

  void OnMessage(const Message& m) override {
    FUZZ_CHECK(Label(m.kind) != kInvalidLabel);
    FUZZ_CHECK(m.complete == (m.incomplete_reason == Error::kNone));
    if (!m.complete) FUZZ_CHECK(KnownErrorLabel(Label(m.incomplete_reason)));
    if (!m.header_block) FUZZ_CHECK(m.complete && m.headers.empty() && m.status == 0);
    FUZZ_CHECK(m.status == 0 || (m.status >= 100 && m.status <= 999));
    FUZZ_CHECK(IsLineField(m.subject) && IsLineField(m.reply_to) && IsLineField(m.sid));
    FUZZ_CHECK(m.subject.size() <= cap_ && m.reply_to.size() <= cap_ && m.sid.size() <= cap_);
    // A publish has no sid; a line's subject is never empty (unless the line was too long).
    if (m.kind == MessageKind::kPublish) FUZZ_CHECK(m.sid.empty());
    FUZZ_CHECK(m.headers.size() <= cap_ / 4);
    std::string s = std::string(Label(m.kind)) + " " + Hex(m.subject) + " " + Hex(m.reply_to) +
                    " " + Hex(m.sid) + (m.header_block ? " block" : " plain") + " status " +
                    std::to_string(m.status) +
                    (m.complete ? " complete" : " " + std::string(Label(m.incomplete_reason)));
    for (const HeaderField& f : m.headers) {
      FUZZ_CHECK(!f.name.empty() && f.name.size() <= cap_);
      FUZZ_CHECK(std::all_of(f.name.begin(), f.name.end(),
                             [](char c) { return c >= 33 && c <= 126 && c != ':'; }));
      // HeaderField's contract: no leading or trailing SP/HTAB in a value.
      FUZZ_CHECK(f.value.empty() || (!IsOws(f.value.front()) && !IsOws(f.value.back())));
      FUZZ_CHECK(f.value.find("\r\n") == std::string_view::npos);
      s.append(" {").append(Hex(f.name)).append("}={").append(Hex(f.value)).append("}");
    }
    log.push_back(std::move(s));
  }

  void OnError(Error error) override {
    FUZZ_CHECK(KnownErrorLabel(Label(error)));
    log.push_back("error " + std::string(Label(error)));
  }

  std::vector<std::string> log;

 private:
  std::size_t cap_;
};

struct Run {
  explicit Run(std::size_t cap)
      : cap(cap), decoder(cap), sink(cap), bound(DirectionDecoder::MemoryBound(cap)) {}

  // The event's bytes live only during the call, as a ring buffer record does: a view kept past
  // it would be a use after free.
  void Feed(std::string_view bytes, uint16_t flags) {
    const fuzz::ExactBytes copy(bytes);
    decoder.Feed(copy.view(), flags, sink);
    if (decoder.memory_bytes() > bound) {
      std::fprintf(stderr, "memory_bytes %zu > bound %zu\n", decoder.memory_bytes(), bound);
      FUZZ_CHECK(decoder.memory_bytes() <= bound);
    }
    FUZZ_CHECK(decoder.buffered_bytes() <= 2 * cap);
  }

  // What the decoder looks like from outside after an event.
  void Snapshot() {
    sink.log.push_back("state buffered " + std::to_string(decoder.buffered_bytes()) +
                       (decoder.block_pending() ? " block" : "") +
                       (decoder.in_long_line() ? " long" : "") +
                       (decoder.skipping() ? " skipping" : ""));
  }

  void Close() {
    decoder.Close(sink);
    // "the instance is as if new": nothing held.
    FUZZ_CHECK(!decoder.block_pending() && !decoder.in_long_line());
    FUZZ_CHECK(decoder.buffered_bytes() == 0);
    FUZZ_CHECK(decoder.memory_bytes() == 0);
    FUZZ_CHECK(!decoder.skipping());
  }

  std::size_t cap;
  DirectionDecoder decoder;
  CheckingSink sink;
  std::size_t bound;
};

uint16_t FlagsOf(uint8_t ctl) {
  uint16_t flags = 0;
  if ((ctl & 0x07) == 0x07) flags |= TG_DATA_LOST_BEFORE;
  if ((ctl & 0x08) != 0) flags |= TG_DATA_CONTINUATION;
  if ((ctl & 0x20) != 0) {
    flags |= TG_DATA_TRUNCATED | TG_DATA_NEW_CONN | TG_DATA_HTTP2 | TG_DATA_H2_FROM_START;
  }
  return flags;
}

// Runs the script on a new decoder; returns everything it reported. With `splitter`, each event
// is cut further at the points it draws.
std::vector<std::string> Execute(const fuzz::Script& script, std::size_t cap, fuzz::Rng* splitter) {
  Run run(cap);
  const bool fine = (script.config & 0x08) != 0;
  for (const fuzz::ScriptEvent& e : script.events) {
    if ((e.ctl & 0x10) != 0) run.Close();
    uint16_t flags = FlagsOf(e.ctl);
    if (splitter == nullptr) {
      run.Feed(e.bytes, flags);
    } else {
      std::string_view rest = e.bytes;
      do {
        const std::size_t n = std::min(rest.size(), splitter->Between(1, fine ? 3 : 257));
        run.Feed(rest.substr(0, n), flags);
        rest.remove_prefix(n);
        // The later pieces begin inside the event's bytes: the kernel would flag them so (it may
        // also flag none, when a piece happens to begin at a line; the decoder reads the flag
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
}  // namespace tracegap::nats

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap::nats;  // NOLINT: this file's own helpers
  const tracegap::fuzz::Script script = tracegap::fuzz::ParseScript(data, size);
  const std::size_t cap = kCaps[script.config & 3];

  const std::vector<std::string> whole = Execute(script, cap, nullptr);
  tracegap::fuzz::Rng rng(tracegap::fuzz::Fnv1a(data, size));
  const std::vector<std::string> cut = Execute(script, cap, &rng);
  if (whole != cut || tracegap::fuzz::Verbose()) {
    tracegap::fuzz::PrintLog("events as given:", whole);
    tracegap::fuzz::PrintLog("events cut further:", cut);
    FUZZ_CHECK(whole == cut);
  }
  return 0;
}
