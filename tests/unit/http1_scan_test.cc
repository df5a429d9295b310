// The kernel-side HTTP/1 header scanner (bpf/http1_scan.h), built into user space: checked
// against a byte-at-a-time reference on hand-picked and random inputs. The kernel code tests
// eight bytes at a time with byte masks; the reference steps through "\r\n\r\n" one byte at a time,
// the obvious way. Both must agree on every field the capture code uses.

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "http1_scan.h"

namespace {

struct Start {
  bool in_headers = false;
  uint8_t match = 0;
  uint32_t block_bytes = 0;
  uint32_t max_block = 4096;
  uint8_t connect = 0;  // a CONNECT awaits its response
};

struct Result {
  uint32_t pos, emit, block_bytes;
  uint8_t in_headers, match, truncated, switched, connect;
  bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "{pos " << r.pos << ", emit " << r.emit << ", block_bytes " << r.block_bytes
            << ", in_headers " << int(r.in_headers) << ", match " << int(r.match) << ", truncated "
            << int(r.truncated) << ", switched " << int(r.switched) << ", connect "
            << int(r.connect) << "}";
}

// Runs the kernel scanner the way capture.h does: fresh per-syscall fields, the direction's
// carried state, then steps until a step says stop.
Result KernelScan(const std::string& bytes, const Start& st) {
  // The scanner may read up to 12 bytes past the copied ones (it never uses them).
  std::vector<uint8_t> data(TG_MAX_COPY + 16, 0);
  std::memcpy(data.data(), bytes.data(), bytes.size());
  tg_scan s{};
  s.len = static_cast<uint32_t>(bytes.size());
  s.block_bytes = st.block_bytes;
  s.max_block = st.max_block;
  s.in_headers = st.in_headers;
  s.match = st.match;
  s.connect = st.connect;
  for (int step = 0; step <= TG_MAX_COPY / (8 * TG_SCAN_WORDS_PER_STEP) + 1; ++step)
    if (tg_scan_words(&s, data.data())) break;
  return {s.pos, s.emit, s.block_bytes, s.in_headers, s.match, s.truncated, s.switched, s.connect};
}

uint8_t CrlfStep(uint8_t match, uint8_t c) {
  const uint8_t expect = (match & 1) ? '\n' : '\r';
  if (c == expect) return match + 1;
  return c == '\r' ? 1 : 0;
}

// The reference: word starts decide where a message may begin (as in the kernel), but the end of
// a block is found one byte at a time.
Result ReferenceScan(const std::string& bytes, const Start& st) {
  Result r{0, 0, st.block_bytes, st.in_headers, st.match, 0, 0, st.connect};
  bool upgrade = false;
  char status = 0;  // a response's first status digit
  const uint32_t len = static_cast<uint32_t>(bytes.size());
  while (r.pos < len) {
    const uint32_t avail = len - r.pos;
    if (!r.in_headers) {
      uint8_t w[8] = {0};
      std::memcpy(w, bytes.data() + r.pos, avail < 8 ? avail : 8);
      uint64_t word;
      std::memcpy(&word, w, 8);
      if (!tg_is_message_start(word, avail)) break;
      r.in_headers = 1;
      r.match = 0;
      r.block_bytes = 0;
      upgrade = avail >= 12 && bytes.compare(r.pos, 12, "HTTP/1.1 101") == 0;
      status = avail >= 10 && bytes.compare(r.pos, 7, "HTTP/1.") == 0 && bytes[r.pos + 8] == ' '
                   ? bytes[r.pos + 9]
                   : 0;
      if (avail >= 8 && bytes.compare(r.pos, 8, "CONNECT ") == 0) r.connect = 1;
    }
    const uint32_t n = avail < 8 ? avail : 8;
    bool ended = false;
    for (uint32_t k = 0; k < n; ++k) {
      r.match = CrlfStep(r.match, static_cast<uint8_t>(bytes[r.pos]));
      ++r.pos;
      ++r.block_bytes;
      if (r.match == 4) {
        r.in_headers = 0;
        r.emit = r.pos;
        r.match = 0;
        ended = true;
        break;
      }
    }
    if (ended) {
      if (upgrade) {
        r.switched = TG_SWITCH_UPGRADE;
        break;
      }
      if (r.connect && status == '2') {
        r.switched = TG_SWITCH_TUNNEL;
        break;
      }
      if (status > '1') r.connect = 0;
      continue;
    }
    r.emit = r.pos;
    if (r.block_bytes >= st.max_block) {
      r.truncated = 1;
      r.in_headers = 0;
      break;
    }
  }
  return r;
}

void ExpectSame(const std::string& bytes, const Start& st) {
  EXPECT_EQ(KernelScan(bytes, st), ReferenceScan(bytes, st))
      << "input (" << bytes.size() << " bytes, in_headers " << st.in_headers << ", match "
      << int(st.match) << ", max_block " << st.max_block << "): " << testing::PrintToString(bytes);
}

TEST(Http1Scan, RequestInOneBuffer) {
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const Result r = KernelScan(req + "body bytes", {});
  EXPECT_EQ(r.emit, req.size());
  EXPECT_EQ(r.in_headers, 0);
  EXPECT_EQ(r.truncated, 0);
  ExpectSame(req + "body bytes", {});
}

TEST(Http1Scan, BlockEndAtEveryOffsetWithinAWord) {
  for (int pad = 0; pad < 16; ++pad) {
    const std::string req = "GET /" + std::string(pad, 'x') + " HTTP/1.1\r\nA: b\r\n\r\n";
    EXPECT_EQ(KernelScan(req + "tail", {}).emit, req.size()) << pad;
    ExpectSame(req + "tail", {});
  }
}

TEST(Http1Scan, EndSplitAcrossSyscallsUsesTheCarriedMatch) {
  // "\r\n\r\n" split 1/3, 2/2 and 3/1 between two syscalls.
  for (uint8_t carried = 1; carried <= 3; ++carried) {
    const std::string rest = std::string("\r\n\r\n").substr(carried) + "GET /next HTTP/1.1\r\n";
    Start st;
    st.in_headers = true;
    st.match = carried;
    st.block_bytes = 40;
    const Result r = KernelScan(rest, st);
    EXPECT_EQ(r.emit, rest.size())
        << int(carried);  // the end, then a pipelined request's first line
    EXPECT_EQ(r.in_headers, 1) << int(carried);
    ExpectSame(rest, st);
  }
}

TEST(Http1Scan, PipelinedRequestsAndA101Upgrade) {
  ExpectSame("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nbody", {});
  const std::string up = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n";
  const Result r = KernelScan(up + "\x00\x00\x12\x04", {});
  EXPECT_EQ(r.switched, TG_SWITCH_UPGRADE);
  EXPECT_EQ(r.pos, up.size());
  ExpectSame(up + "\x00\x00\x12\x04", {});
}

TEST(Http1Scan, ConnectThen2xxIsATunnelAndA407IsNot) {
  // The request side remembers the CONNECT; the response side ends HTTP/1 at a 2xx.
  const Result req = KernelScan("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", {});
  EXPECT_EQ(req.connect, 1);
  EXPECT_EQ(req.switched, TG_SWITCH_NONE);
  Start pending;
  pending.connect = 1;
  const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
  const Result tunnel = KernelScan(ok + "\x16\x03\x01GET / HTTP/1.1\r\n\r\n", pending);
  EXPECT_EQ(tunnel.switched, TG_SWITCH_TUNNEL);
  EXPECT_EQ(tunnel.emit, ok.size());
  ExpectSame(ok + "\x16\x03\x01", pending);
  const Result refused = KernelScan("HTTP/1.1 407 Auth\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", pending);
  EXPECT_EQ(refused.switched, TG_SWITCH_NONE);  // the 200 answers a later request
  EXPECT_EQ(refused.connect, 0);
  // Without a CONNECT, a 200 ends nothing; a 100 Continue keeps a CONNECT pending.
  EXPECT_EQ(KernelScan(ok, {}).switched, TG_SWITCH_NONE);
  const Result interim = KernelScan("HTTP/1.1 100 Continue\r\n\r\n" + ok, pending);
  EXPECT_EQ(interim.switched, TG_SWITCH_TUNNEL);
  ExpectSame("HTTP/1.1 100 Continue\r\n\r\n" + ok, pending);
}

TEST(Http1Scan, LongBlockIsTruncatedAtMaxBlock) {
  Start st;
  st.max_block = 64;
  const std::string req = "GET / HTTP/1.1\r\nX: " + std::string(200, 'y') + "\r\n\r\n";
  const Result r = KernelScan(req, st);
  EXPECT_EQ(r.truncated, 1);
  EXPECT_EQ(r.in_headers, 0);
  ExpectSame(req, st);
}

TEST(Http1Scan, NotHttpStopsAtOnce) {
  const Result r = KernelScan("\x16\x03\x01\x02\x00\x01", {});
  EXPECT_EQ(r.emit, 0u);
  EXPECT_EQ(r.pos, 0u);
}

// Random buffers built from the pieces that matter (CR, LF, message starts, header-ish text),
// with random carried state: the two scanners must agree everywhere.
TEST(Http1Scan, AgreesWithTheReferenceOnRandomInput) {
  const std::vector<std::string> pieces = {"\r",
                                           "\n",
                                           "\r\n",
                                           "\r\n\r\n",
                                           "GET / HTTP/1.1",
                                           "POST /x HTTP/1.0",
                                           "HTTP/1.1 200 OK",
                                           "HTTP/1.1 101 Switching",
                                           "Host: a",
                                           "x",
                                           "yz",
                                           ": ",
                                           std::string(1, '\0'),
                                           "\xff",
                                           "abcdefgh",
                                           "PUT ",
                                           "HTT"};
  std::mt19937 rng(20261124);
  for (int iter = 0; iter < 200000; ++iter) {
    std::string b;
    const int parts = rng() % 24;
    if (rng() % 2) b = pieces[4 + rng() % 4];
    for (int i = 0; i < parts; ++i) b += pieces[rng() % pieces.size()];
    if (b.size() > 600) b.resize(600);
    Start st;
    st.in_headers = rng() % 3 == 0;
    st.match = st.in_headers ? rng() % 4 : 0;
    st.block_bytes = st.in_headers ? rng() % 100 : 0;
    st.max_block = (rng() % 4 == 0) ? 16 + rng() % 120 : 4096;
    const Result k = KernelScan(b, st), ref = ReferenceScan(b, st);
    ASSERT_EQ(k, ref) << "iteration " << iter << " input " << testing::PrintToString(b)
                      << " in_headers " << st.in_headers << " match " << int(st.match)
                      << " max_block " << st.max_block;
  }
}

}  // namespace
