#pragma once
// Shared by the libFuzzer targets in this directory: the "event script" input format of the
// stream fuzzers, exact-size copies of event bytes, and the check macro.
//
// Event script (fuzz_http1, fuzz_http2; make_corpus.py writes seeds in it):
//   byte 0      config: the target's options (limits, mode, ...)
//   byte 1      n: how many event descriptors follow (taken modulo kMaxDescriptors)
//   3 * n       per event: ctl (flags and actions, per target), then its length (u16, LE)
//   the rest    the payload, cut in order into the events. An event whose length runs past the
//               end gets what is left; payload left after the last descriptor is one more event
//               with the last descriptor's ctl (0 when n == 0).
// Split points and flags are then ordinary input bytes, which libFuzzer mutates as readily as the
// payload; a seed made of real traffic is just a short prefix in front of the captured bytes.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// A failed invariant is a finding: print what broke and abort, which libFuzzer reports as a
// crash and saves the input for.
#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) ::tracegap::fuzz::Fail(__FILE__, __LINE__, "FUZZ_CHECK(" #cond ")"); \
  } while (0)

namespace tracegap::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

// A copy of some bytes in a heap block of exactly their size, so that ASan reports a read past
// their end (a view into the middle of the fuzzer's input would let it run into the next event's
// bytes unnoticed).
class ExactBytes {
 public:
  explicit ExactBytes(std::string_view bytes) : size_(bytes.size()), data_(new char[bytes.size()]) {
    if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  std::string_view view() const { return {data_.get(), size_}; }
  bool Contains(std::string_view v) const {
    return v.data() >= data_.get() && v.data() + v.size() <= data_.get() + size_;
  }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

struct ScriptEvent {
  uint8_t ctl = 0;
  std::string_view bytes;  // into the fuzzer's input; copy with ExactBytes before feeding
};

struct Script {
  uint8_t config = 0;
  std::string_view payload;  // every event's bytes, in order, back to back
  std::vector<ScriptEvent> events;
};

inline constexpr std::size_t kMaxDescriptors = 32;

inline Script ParseScript(const uint8_t* data, std::size_t size) {
  Script s;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto take_byte = [&in]() -> uint8_t {
    if (in.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return b;
  };
  s.config = take_byte();
  const std::size_t n = take_byte() % kMaxDescriptors;
  struct Descriptor {
    uint8_t ctl;
    std::size_t length;
  };
  std::vector<Descriptor> descriptors;
  for (std::size_t i = 0; i < n && !in.empty(); ++i) {
    const uint8_t ctl = take_byte();
    const std::size_t lo = take_byte();
    const std::size_t hi = take_byte();
    descriptors.push_back({ctl, lo | (hi << 8)});
  }
  s.payload = in;
  uint8_t last_ctl = 0;
  for (const Descriptor& d : descriptors) {
    const std::size_t len = d.length < in.size() ? d.length : in.size();
    s.events.push_back({d.ctl, in.substr(0, len)});
    in.remove_prefix(len);
    last_ctl = d.ctl;
  }
  if (!in.empty()) s.events.push_back({last_ctl, in});
  return s;
}

// TRACEGAP_FUZZ_VERBOSE=1 makes the stream fuzzers print what the decoders reported, to check
// that a seed decodes as intended (run the target binary on the seed file).
inline bool Verbose() {
  static const bool verbose = std::getenv("TRACEGAP_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

inline void PrintLog(const char* title, const std::vector<std::string>& log) {
  std::fprintf(stderr, "%s\n", title);
  for (const std::string& line : log) std::fprintf(stderr, "  %s\n", line.c_str());
}

// A small deterministic generator (splitmix64) for choices derived from the input, so that every
// run of one input takes the same path.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // In [lo, hi].
  std::size_t Between(std::size_t lo, std::size_t hi) { return lo + Next() % (hi - lo + 1); }

 private:
  uint64_t state_;
};

inline uint64_t Fnv1a(const uint8_t* data, std::size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

// Reads every byte of a view, so that ASan checks the whole range is live memory; the result is
// folded into a volatile so the reads cannot be optimised away.
inline volatile uint8_t touch_sink = 0;
inline void Touch(std::string_view v) {
  uint8_t acc = 0;
  for (char c : v) acc = static_cast<uint8_t>(acc + static_cast<uint8_t>(c));
  touch_sink = acc;
}

}  // namespace tracegap::fuzz
