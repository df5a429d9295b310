#include "protocols/http1/reassembler.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/message.h"
#include "tracegap.h"

namespace tracegap::http1 {
namespace {

using namespace std::string_literals;

constexpr uint16_t kCont = TG_DATA_CONTINUATION;
constexpr uint16_t kTrunc = TG_DATA_TRUNCATED;
constexpr uint16_t kLost = TG_DATA_LOST_BEFORE;

// Records each callback as one line of text: the views die with the callback, and comparing
// lines gives readable failures.
class Recorder : public MessageSink {
 public:
  void OnMessage(const Message& m) override {
    std::string s = m.kind == MessageKind::kRequest ? "req " : "resp ";
    s += m.complete ? "complete" : "incomplete:";
    if (!m.complete) s += ParseErrorLabel(m.incomplete_reason);
    if (m.kind == MessageKind::kRequest) {
      s += " ";
      s.append(m.method).append(" ").append(m.path).append(" @").append(m.authority);
    } else {
      s += " " + std::to_string(m.status);
    }
    s += " 1." + std::to_string(m.version_minor);
    if (m.upgrade_h2c) s += " h2c";
    for (const HeaderField& f : m.headers) {
      s.append(" [").append(f.name).append("=").append(f.value).append("]");
    }
    events.push_back(s);
  }
  void OnError(ParseError reason) override {
    events.push_back("error:" + std::string(ParseErrorLabel(reason)));
  }

  std::vector<std::string> events;
};

const std::string kReq1 = "GET /a?secret=1 HTTP/1.1\r\nHost: a.example\r\ntraceparent: x\r\n\r\n";
const std::string kReq2 = "POST /b HTTP/1.1\r\nHost: b.example\r\nContent-Length: 3\r\n\r\n";
const std::string kReq3 = "GET /c HTTP/1.0\r\n\r\n";
const std::string kResp = "HTTP/1.1 200 OK\r\nServer: s\r\nX-Empty:\r\n\r\n";
const std::string kReq1Line = "req complete GET /a @a.example 1.1 [Host=a.example] [traceparent=x]";
const std::string kReq2Line =
    "req complete POST /b @b.example 1.1 [Host=b.example] [Content-Length=3]";
const std::string kReq3Line = "req complete GET /c @ 1.0";

// Whether the kernel would flag an event starting at `pos` of `stream` as a continuation:
// it does unless the previous event ended exactly at a block's end.
bool MidBlock(std::string_view stream, std::size_t pos) {
  return pos != 0 && !stream.substr(0, pos).ends_with("\r\n\r\n");
}

// Feeds `stream` cut at `cuts` (ascending offsets), flagged as the kernel would, then closes.
std::vector<std::string> FeedCut(const std::string& stream, const std::vector<std::size_t>& cuts,
                                 std::size_t max_block = Reassembler::kDefaultMaxBlockBytes) {
  Reassembler r(max_block);
  Recorder rec;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t end = i < cuts.size() ? cuts[i] : stream.size();
    r.Feed(std::string_view(stream).substr(start, end - start), MidBlock(stream, start) ? kCont : 0,
           rec);
    EXPECT_LE(r.pending_bytes(), max_block);
    start = end;
  }
  r.Close(rec);
  EXPECT_EQ(r.pending_bytes(), 0u);
  return rec.events;
}

TEST(ReassemblerTest, OneBlockOneEvent) {
  Reassembler r(4096);
  Recorder rec;
  r.Feed(kReq1, 0, rec);
  EXPECT_EQ(rec.events, std::vector<std::string>{kReq1Line});
  EXPECT_EQ(r.pending_bytes(), 0u);
}

TEST(ReassemblerTest, PipelinedBlocksInOneEvent) {
  EXPECT_EQ(FeedCut(kReq1 + kReq2 + kReq3, {}),
            (std::vector<std::string>{kReq1Line, kReq2Line, kReq3Line}));
}

TEST(ReassemblerTest, PipelinedBlocksSplitAcrossEvents) {
  std::string stream = kReq1 + kReq2 + kReq3;
  std::size_t mid2 = kReq1.size() + 10;
  std::size_t mid3 = kReq1.size() + kReq2.size() + 5;
  EXPECT_EQ(FeedCut(stream, {mid2, mid3}),
            (std::vector<std::string>{kReq1Line, kReq2Line, kReq3Line}));
}

// The outcome must not depend on where syscalls cut the stream.
void ExpectSplitInvariant(const std::string& stream, std::size_t max_block) {
  const std::vector<std::string> want = FeedCut(stream, {}, max_block);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    ASSERT_EQ(FeedCut(stream, {cut}, max_block), want) << "cut at " << cut;
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  ASSERT_EQ(FeedCut(stream, every_byte, max_block), want) << "byte by byte";
}

TEST(ReassemblerTest, SplitAtEveryOffsetGivesTheSameResult) {
  ExpectSplitInvariant(kReq1, 4096);
  ExpectSplitInvariant(kReq1 + kReq2 + kReq3, 4096);
  ExpectSplitInvariant(kResp + kResp, 4096);
  // A trailing incomplete block, flushed by Close().
  ExpectSplitInvariant(kReq1 + "GET /d HTTP/1.1\r\nHost: d\r\nX-", 4096);
}

TEST(ReassemblerTest, ThreeWaySplitsGiveTheSameResult) {
  const std::string stream = kReq3 + kReq1;
  const std::vector<std::string> want = FeedCut(stream, {});
  for (std::size_t a = 1; a < stream.size(); ++a) {
    for (std::size_t b = a + 1; b < stream.size(); ++b) {
      ASSERT_EQ(FeedCut(stream, {a, b}), want) << a << "," << b;
    }
  }
}

TEST(ReassemblerTest, TooLargeIsSplitInvariant) {
  // Limits below, at and above each block's size (kReq1 is 61 bytes, kReq3 19).
  for (std::size_t max : {20u, 40u, 60u, 61u, 62u}) {
    ExpectSplitInvariant(kReq1 + kReq3 + kReq1, max);
  }
}

TEST(ReassemblerTest, HeadersInSeparateWrites) {
  // As Python's http.client does: request line, then the headers.
  Reassembler r(4096);
  Recorder rec;
  r.Feed("GET /a?secret=1 HTTP/1.1\r\n", 0, rec);
  EXPECT_TRUE(rec.events.empty());
  EXPECT_EQ(r.pending_bytes(), 26u);
  r.Feed("Host: a.example\r\ntraceparent: x\r\n\r\n", kCont, rec);
  EXPECT_EQ(rec.events, std::vector<std::string>{kReq1Line});
  EXPECT_EQ(r.pending_bytes(), 0u);
}

TEST(ReassemblerTest, Truncated) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed(kReq3 + "GET /t HTTP/1.1\r\nHost: t\r\nX-Lo", kTrunc, rec);
  EXPECT_EQ(r.pending_bytes(), 0u);
  r.Feed("GET /u HTT", 0, rec);
  r.Feed("P/1.1\r\nHo", kCont | kTrunc, rec);
  r.Feed("GET /v", kTrunc, rec);
  r.Feed(kReq3, kTrunc, rec);  // nothing trailing: the flag has nothing to flush
  EXPECT_EQ(rec.events, (std::vector<std::string>{
                            kReq3Line,
                            "req incomplete:truncated GET /t @t 1.1 [Host=t]",
                            "req incomplete:truncated GET /u @ 1.1",
                            "error:truncated",
                            kReq3Line,
                        }));
}

TEST(ReassemblerTest, LostBeforeWithoutContinuation) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("GET /p HTTP/1.1\r\nHost: p\r\n", 0, rec);
  r.Feed(kReq3, kLost, rec);
  r.Feed(kReq3, kLost, rec);  // nothing pending: just parsed
  EXPECT_EQ(rec.events, (std::vector<std::string>{"req incomplete:lost GET /p @p 1.1 [Host=p]",
                                                  kReq3Line, kReq3Line}));
}

TEST(ReassemblerTest, LostBeforeWithContinuation) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("GET /p HTTP/1.1\r\nHost: p\r\n", 0, rec);
  // The end of some block whose start was lost, then a new block.
  r.Feed("ost: q\r\n\r\n" + kReq3, kCont | kLost, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"req incomplete:lost GET /p @p 1.1 [Host=p]",
                                                  "error:unsynced", kReq3Line}));
}

TEST(ReassemblerTest, UnsyncedSkipSpansEventsAndSplitTerminator) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("Y: 1\r\n", kCont | kLost, rec);
  r.Feed("Z: 2\r\n\r", kCont, rec);
  EXPECT_EQ(r.pending_bytes(), 0u);
  r.Feed("\n" + kReq3, kCont, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"error:unsynced", kReq3Line}));
}

TEST(ReassemblerTest, MidStreamStartIsUnsynced) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("ost: a\r\n\r\n" + kReq3 + "GET /e HT", kCont, rec);
  r.Feed("TP/1.1\r\n\r\n", kCont, rec);
  EXPECT_EQ(rec.events,
            (std::vector<std::string>{"error:unsynced", kReq3Line, "req complete GET /e @ 1.1"}));
}

TEST(ReassemblerTest, NewMessageAbandonsPending) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("GET /p HTTP/1.1\r\nHost: p\r\n", 0, rec);
  r.Feed(kReq3, 0, rec);
  r.Feed("GET /q", 0, rec);
  r.Feed(kReq3, 0, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"req incomplete:abandoned GET /p @p 1.1 [Host=p]",
                                                  kReq3Line, "error:abandoned", kReq3Line}));
}

TEST(ReassemblerTest, CloseFlushesPending) {
  Recorder rec;
  Reassembler r(4096);
  r.Close(rec);
  EXPECT_TRUE(rec.events.empty());
  r.Feed("HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nX", 0, rec);
  r.Close(rec);
  EXPECT_EQ(r.pending_bytes(), 0u);
  // Closed means as new: a continuation now belongs to no known block.
  r.Feed("\r\n\r\n", kCont, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"resp incomplete:closed 503 1.1 [Retry-After=1]",
                                                  "error:unsynced"}));
}

TEST(ReassemblerTest, TooLarge) {
  Recorder rec;
  Reassembler r(32);
  // Exactly the limit is fine.
  const std::string fits = "GET /f HTTP/1.1\r\nA: 01234567\r\n\r\n";
  ASSERT_EQ(fits.size(), 32u);
  r.Feed(fits, 0, rec);
  // Larger in one event: the fully read lines in the first 32 bytes count.
  r.Feed("GET /g HTTP/1.1\r\nA: 1\r\nB: 0123456789\r\n\r\n" + kReq3, 0, rec);
  // Larger over several events: the rest is skipped up to the terminator.
  r.Feed("GET /h HTTP/1.1\r\nA: 1\r\n", 0, rec);
  r.Feed("B: 0123456789\r\n", kCont, rec);
  EXPECT_EQ(r.pending_bytes(), 0u);
  r.Feed("C: 0123456789\r\n\r\n" + kReq3, kCont, rec);
  // A start line longer than the limit gives no message.
  r.Feed("GET /" + std::string(40, 'x') + " HTTP/1.1\r\n\r\n", 0, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{
                            "req complete GET /f @ 1.1 [A=01234567]",
                            "req incomplete:too_large GET /g @ 1.1 [A=1]",
                            kReq3Line,
                            "req incomplete:too_large GET /h @ 1.1 [A=1]",
                            kReq3Line,
                            "error:too_large",
                        }));
}

TEST(ReassemblerTest, IncompleteBlockAtTheLimitIsTooLargeAtOnce) {
  Recorder rec;
  Reassembler r(32);
  std::string block = "GET /f HTTP/1.1\r\nA: 01234567\r\n\r";  // 31 bytes, one short of the end
  r.Feed(block + "X", kTrunc, rec);  // the flag cannot save a block that hit the limit
  r.Feed(kReq3, 0, rec);
  EXPECT_EQ(rec.events, (std::vector<std::string>{
                            "req incomplete:too_large GET /f @ 1.1 [A=01234567]", kReq3Line}));
}

TEST(ReassemblerTest, GarbageIsReportedAndTheNextBlockParsed) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("\x00\x01garbage\r\n\r\n"s + kReq3, 0, rec);
  r.Feed("GET / HTTP/1.1\nHost: lf-only\n\n" + kReq3, 0, rec);
  r.Feed("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, rec);
  EXPECT_EQ(rec.events,
            (std::vector<std::string>{"error:bad_start_line", kReq3Line, "error:bare_lf",
                                      "error:not_http1", "error:bad_start_line"}));
}

TEST(ReassemblerTest, EmptyEvents) {
  Recorder rec;
  Reassembler r(4096);
  r.Feed("", 0, rec);
  r.Feed("GET /p HTTP/1.1\r\n", 0, rec);
  r.Feed("", kCont, rec);
  r.Feed("\r\n", kCont, rec);
  EXPECT_EQ(rec.events, std::vector<std::string>{"req complete GET /p @ 1.1"});
}

TEST(ReassemblerTest, DirectionsAreIndependent) {
  Reassembler egress(4096), ingress(4096);
  Recorder out, in;
  egress.Feed(kReq1.substr(0, 20), 0, out);
  ingress.Feed(kResp.substr(0, 10), 0, in);
  egress.Feed(kReq1.substr(20), kCont, out);
  ingress.Feed(kResp.substr(10), kCont, in);
  EXPECT_EQ(out.events, std::vector<std::string>{kReq1Line});
  EXPECT_EQ(in.events, std::vector<std::string>{"resp complete 200 1.1 [Server=s] [X-Empty=]"});
}

TEST(ReassemblerTest, RandomEventsKeepInvariants) {
  std::mt19937 rng(7);
  const std::string pieces[] = {kReq1, kReq2, kResp, "\r\n", "\r", "\n", "GET ", "x: y", "\x00"s};
  for (int iter = 0; iter < 2000; ++iter) {
    Reassembler r(1 + rng() % 128);
    Recorder rec;
    for (int e = 0; e < 8; ++e) {
      std::string bytes;
      for (int k = rng() % 4; k > 0; --k) {
        const std::string& p = pieces[rng() % std::size(pieces)];
        bytes += p.substr(rng() % (p.size() + 1));
      }
      r.Feed(bytes, static_cast<uint16_t>(rng() % 16), rec);
      ASSERT_LE(r.pending_bytes(), 128u);
    }
    r.Close(rec);
    ASSERT_EQ(r.pending_bytes(), 0u);
    for (const std::string& ev : rec.events) EXPECT_EQ(ev.find("secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace tracegap::http1
