// Fuzzes the HTTP/1 reassembler and parser the way the daemon drives them: the bytes of one
// direction of one connection, fed event by event with tg_data_flags (input format: the event
// script of fuzz_support.h).
//
// config byte:
//   bits 0-2  max_block_bytes, from kLimits (small ones reach the too-large paths quickly)
//   bit 3     mode: 0 = consistent, 1 = raw
// ctl byte (raw mode only):
//   bit 0 CONTINUATION, bit 1 TRUNCATED, bit 2 LOST_BEFORE, bit 3 NEW_CONN,
//   bit 4 Close() the reassembler before this event (the connection closed; a new one follows)
//
// Raw mode: each event's flags come from its ctl byte, including combinations the kernel never
// sends, and every output is checked against the invariants any message must satisfy (views
// inside live buffers and within one block, no query in a path, pending bytes within the limit,
// field syntax).
// Consistent mode: the flags are what the kernel would send for that cut of the byte stream
// (CONTINUATION exactly when an event starts inside a header block, no loss or truncation); then
// reassembler.h promises the outcome does not depend on the cuts, so the messages and errors must
// equal those of the whole stream fed as one event. This catches state carried wrongly across
// events, which no crash would show.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocols/http1/message.h"
#include "protocols/http1/reassembler.h"
#include "tracegap.h"

namespace tracegap::http1 {
namespace {

using fuzz::ExactBytes;

constexpr std::size_t kLimits[] = {4, 7, 16, 64, 255, 1024, 4096, 8192};

bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsFieldValue(std::string_view v) {
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u != '\t' && (u < 0x20 || u == 0x7f)) return false;
  }
  return v.empty() ||
         (v.front() != ' ' && v.front() != '\t' && v.back() != ' ' && v.back() != '\t');
}

// Checks every message and error against what the parser promises, and logs them as text (the
// views die with the callback) for the consistent-mode comparison.
class CheckingSink final : public MessageSink {
 public:
  CheckingSink(std::size_t max_block, const std::string& stream)
      : max_block_(max_block), stream_(stream) {}

  void set_event(const ExactBytes* event) { event_ = event; }

  void OnMessage(const Message& m) override {
    FUZZ_CHECK(m.kind == MessageKind::kRequest || m.kind == MessageKind::kResponse);
    FUZZ_CHECK(m.incomplete_reason < ParseError::kCount);
    FUZZ_CHECK(m.complete == (m.incomplete_reason == ParseError::kOk));
    FUZZ_CHECK(m.version_minor <= 1);
    if (m.kind == MessageKind::kRequest) {
      FUZZ_CHECK(IsToken(m.method));
      FUZZ_CHECK(!m.path.empty());
      // Privacy: a query or fragment must never leave the parser.
      FUZZ_CHECK(m.path.find_first_of("?#") == std::string_view::npos);
      FUZZ_CHECK(m.status == 0);
    } else {
      FUZZ_CHECK(m.status >= 100 && m.status <= 999);
      FUZZ_CHECK(m.method.empty() && m.path.empty() && m.authority.empty() && !m.upgrade_h2c);
    }
    for (const HeaderField& f : m.headers) {
      FUZZ_CHECK(IsToken(f.name));
      FUZZ_CHECK(IsFieldValue(f.value));
    }
    CheckViews(m);
    Log(m);
  }

  void OnError(ParseError reason) override {
    FUZZ_CHECK(reason != ParseError::kOk && reason < ParseError::kCount);
    log.push_back("error " + std::string(ParseErrorLabel(reason)));
  }

  std::vector<std::string> log;

 private:
  // Every view lies in one block: either inside the event being fed, or inside the reassembler's
  // copy of a block (then its bytes must be bytes of the stream). Reading the whole span makes
  // ASan check that it is one live allocation.
  void CheckViews(const Message& m) {
    const char* lo = nullptr;
    const char* hi = nullptr;
    auto add = [&](std::string_view v) {
      if (v.empty()) return;
      if (lo == nullptr || v.data() < lo) lo = v.data();
      if (hi == nullptr || v.data() + v.size() > hi) hi = v.data() + v.size();
    };
    add(m.method);
    // An absolute-form target without a path gets the literal "/", which lives nowhere.
    if (m.path != "/") add(m.path);
    add(m.authority);
    for (const HeaderField& f : m.headers) {
      add(f.name);
      add(f.value);
    }
    if (lo == nullptr) return;
    const std::string_view span(lo, static_cast<std::size_t>(hi - lo));
    FUZZ_CHECK(span.size() <= max_block_);
    fuzz::Touch(span);
    if (event_ != nullptr && event_->Contains(span)) return;
    FUZZ_CHECK(stream_.find(span) != std::string::npos);
  }

  void Log(const Message& m) {
    std::string s = m.kind == MessageKind::kRequest ? "req " : "resp ";
    s += m.complete ? "complete" : std::string(ParseErrorLabel(m.incomplete_reason));
    s.append(" [").append(m.method).append("] [").append(m.path).append("] [");
    s.append(m.authority).append("] 1.").append(std::to_string(m.version_minor));
    s.append(" ").append(std::to_string(m.status)).append(m.upgrade_h2c ? " h2c" : "");
    for (const HeaderField& f : m.headers) {
      s.append(" {").append(f.name).append("}={").append(f.value).append("}");
    }
    log.push_back(std::move(s));
  }

  std::size_t max_block_;
  const std::string& stream_;  // every byte fed since the last Close()
  const ExactBytes* event_ = nullptr;
};

// Offsets where a header block ends (just past its CRLFCRLF), as the kernel delimits them: a block
// starts where the previous one ended and ends at the first CRLFCRLF after its start.
std::vector<bool> BlockBoundaries(std::string_view s) {
  std::vector<bool> boundary(s.size() + 1, false);
  boundary[0] = true;
  std::size_t start = 0;
  for (;;) {
    const std::size_t found = s.find("\r\n\r\n", start);
    if (found == std::string_view::npos) break;
    start = found + 4;
    boundary[start] = true;
  }
  return boundary;
}

void RunRaw(const fuzz::Script& script, std::size_t limit) {
  Reassembler r(limit);
  std::string stream;
  CheckingSink sink(limit, stream);
  for (const fuzz::ScriptEvent& e : script.events) {
    if ((e.ctl & 0x10) != 0) {
      sink.set_event(nullptr);
      r.Close(sink);
      FUZZ_CHECK(r.pending_bytes() == 0);
      stream.clear();
    }
    const uint16_t flags = e.ctl & 0x0f;  // CONTINUATION, TRUNCATED, LOST_BEFORE, NEW_CONN
    const ExactBytes bytes(e.bytes);
    stream.append(e.bytes);
    sink.set_event(&bytes);
    r.Feed(bytes.view(), flags, sink);
    sink.set_event(nullptr);
    FUZZ_CHECK(r.pending_bytes() <= limit);
  }
  r.Close(sink);
  FUZZ_CHECK(r.pending_bytes() == 0);
  if (fuzz::Verbose()) fuzz::PrintLog("raw:", sink.log);
}

void RunConsistent(const fuzz::Script& script, std::size_t limit) {
  const std::string stream(script.payload);

  Reassembler whole(limit);
  CheckingSink expected(limit, stream);
  {
    const ExactBytes bytes(stream);
    expected.set_event(&bytes);
    whole.Feed(bytes.view(), 0, expected);
    expected.set_event(nullptr);
    whole.Close(expected);
  }

  const std::vector<bool> boundary = BlockBoundaries(stream);
  Reassembler cut(limit);
  CheckingSink actual(limit, stream);
  std::size_t offset = 0;
  for (const fuzz::ScriptEvent& e : script.events) {
    const uint16_t flags = boundary[offset] ? 0 : TG_DATA_CONTINUATION;
    const ExactBytes bytes(e.bytes);
    actual.set_event(&bytes);
    cut.Feed(bytes.view(), flags, actual);
    actual.set_event(nullptr);
    FUZZ_CHECK(cut.pending_bytes() <= limit);
    offset += e.bytes.size();
  }
  cut.Close(actual);

  if (actual.log != expected.log || fuzz::Verbose()) {
    fuzz::PrintLog("fed whole:", expected.log);
    fuzz::PrintLog("fed event by event:", actual.log);
    FUZZ_CHECK(actual.log == expected.log);
  }
}

}  // namespace
}  // namespace tracegap::http1

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap::http1;  // NOLINT: this file's own helpers
  const tracegap::fuzz::Script script = tracegap::fuzz::ParseScript(data, size);
  // The reassembler raises limits below 4 to 4; the checks use the effective one.
  const std::size_t limit = kLimits[script.config & 7];
  if ((script.config & 0x08) != 0) {
    RunRaw(script, limit);
  } else {
    RunConsistent(script, limit);
  }
  return 0;
}
