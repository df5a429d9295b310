// Tests the NATS decoder (daemon/protocols/nats/) on control lines and header blocks as the
// kernel emits them (bpf/nats_walk.h). Sections, in this order: helpers that write the wire;
// Messages (PUB/HPUB/MSG/HMSG and their headers); Malformed lines; Long lines; Splits, loss,
// close; Memory. The line grammar itself is tested in nats_wire_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/nats/direction_decoder.h"
#include "protocols/nats/errors.h"
#include "protocols/nats/line.h"
#include "protocols/nats/message.h"
#include "tracegap.h"

namespace tracegap::nats {
namespace {

using Strings = std::vector<std::string>;

constexpr uint16_t kLost = TG_DATA_LOST_BEFORE;
constexpr uint16_t kCont = TG_DATA_CONTINUATION;

// ---------------------------------------------------------------------------------------------
// The wire, as clients and nats-server write it, and what the kernel emits of it.

std::string Traceparent(int n = 1) {
  std::string id = std::to_string(n);
  return "00-" + std::string(32 - id.size(), 'a') + id + "-00f067aa0ba902b7-01";
}

// A header block: "NATS/1.0" (with `status` if given), the fields, the empty line.
std::string HeaderBlock(const std::vector<std::pair<std::string, std::string>>& fields,
                        std::string_view status = {}) {
  std::string b = "NATS/1.0";
  if (!status.empty()) b += " " + std::string(status);
  b += "\r\n";
  for (const auto& [name, value] : fields) b += name + ": " + value + "\r\n";
  return b + "\r\n";
}

std::string TracedBlock(int n = 1) {
  return HeaderBlock({{"traceparent", Traceparent(n)}, {"x-test", "1"}});
}

std::string Pub(std::string_view subject, std::string_view payload, std::string_view reply = {}) {
  std::string line = "PUB " + std::string(subject) + " ";
  if (!reply.empty()) line += std::string(reply) + " ";
  return line + std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
}

std::string Hpub(std::string_view subject, std::string_view block, std::string_view payload,
                 std::string_view reply = {}) {
  std::string line = "HPUB " + std::string(subject) + " ";
  if (!reply.empty()) line += std::string(reply) + " ";
  return line + std::to_string(block.size()) + " " + std::to_string(block.size() + payload.size()) +
         "\r\n" + std::string(block) + std::string(payload) + "\r\n";
}

std::string Msg(std::string_view subject, std::string_view sid, std::string_view payload,
                std::string_view reply = {}) {
  std::string line = "MSG " + std::string(subject) + " " + std::string(sid) + " ";
  if (!reply.empty()) line += std::string(reply) + " ";
  return line + std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
}

std::string Hmsg(std::string_view subject, std::string_view sid, std::string_view block,
                 std::string_view payload, std::string_view reply = {}) {
  std::string line = "HMSG " + std::string(subject) + " " + std::string(sid) + " ";
  if (!reply.empty()) line += std::string(reply) + " ";
  return line + std::to_string(block.size()) + " " + std::to_string(block.size() + payload.size()) +
         "\r\n" + std::string(block) + std::string(payload) + "\r\n";
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while ((i = line.find_first_not_of(" \t", i)) != std::string_view::npos) {
    const std::size_t end = std::min(line.find_first_of(" \t", i), line.size());
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// What the kernel emits for a wire stream of whole, well-formed operations (bpf/tracegap.h,
// line.h): every line but INFO and CONNECT, then after HPUB and HMSG the first
// min(header_bytes, cap) bytes of the header block; never a payload. Written independently of
// the decoder's own line parser.
std::string Records(std::string_view wire, std::size_t cap = kDefaultCap) {
  std::string out;
  while (!wire.empty()) {
    const std::size_t eol = wire.find("\r\n");
    if (eol == std::string_view::npos) {
      out += wire;
      break;
    }
    const std::string_view line = wire.substr(0, eol);
    wire.remove_prefix(eol + 2);
    const std::vector<std::string_view> f = SplitFields(line);
    const std::string op = f.empty() ? "" : Lower(f[0]);
    if (op == "info" || op == "connect") continue;
    out += std::string(line) + "\r\n";
    if (op == "pub" || op == "msg") {
      wire.remove_prefix(std::stoul(std::string(f.back())) + 2);
    } else if (op == "hpub" || op == "hmsg") {
      const std::size_t hdr = std::stoul(std::string(f[f.size() - 2]));
      out += wire.substr(0, std::min(hdr, cap));
      wire.remove_prefix(std::stoul(std::string(f.back())) + 2);
    }
  }
  return out;
}

// One line per report; the views die with the callback.
class Recorder final : public MessageSink {
 public:
  void OnMessage(const Message& m) override {
    std::string s = std::string(Label(m.kind)) + " [" + std::string(m.subject) + "] [" +
                    std::string(m.reply_to) + "] [" + std::string(m.sid) + "]";
    if (!m.header_block) s += " plain";
    if (m.status != 0) s += " status " + std::to_string(m.status);
    s += m.complete ? " complete" : " incomplete:" + std::string(Label(m.incomplete_reason));
    for (const HeaderField& f : m.headers) {
      s += " {" + std::string(f.name) + "}={" + std::string(f.value) + "}";
    }
    lines.push_back(std::move(s));
  }
  void OnError(Error e) override { lines.push_back("error " + std::string(Label(e))); }

  Strings lines;
};

// Feeds `records` as one event and returns what was reported (Close() included if asked).
Strings Decode(const std::string& records, std::size_t cap = kDefaultCap, bool close = false) {
  DirectionDecoder d(cap);
  Recorder rec;
  d.Feed(records, 0, rec);
  if (close) d.Close(rec);
  return rec.lines;
}

std::string Tp(int n = 1) { return " {traceparent}={" + Traceparent(n) + "} {x-test}={1}"; }

// ---------------------------------------------------------------------------------------------
// Messages

TEST(NatsDecoder, RecordsNeverHoldPayloads) {
  const std::string wire = "INFO {\"server_id\":\"x\",\"headers\":true}\r\n" +
                           std::string("CONNECT {\"headers\":true}\r\n") +
                           Hpub("orders", TracedBlock(), "PUB fake 1\r\nx") + Pub("a", "MSG b");
  const std::string block = TracedBlock();
  ASSERT_EQ(block.size(), 93u);
  EXPECT_EQ(Records(wire), "HPUB orders 93 106\r\n" + block + "PUB a 5\r\n");
}

TEST(NatsDecoder, PublishWithAndWithoutReply) {
  const std::string wire = Hpub("orders", TracedBlock(1), "{\"seq\":1}") +
                           Hpub("orders", TracedBlock(2), "", "_INBOX.abc.7") +
                           Pub("orders", "plain") + Pub("orders", "", "_INBOX.abc.8");
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish [orders] [] [] complete" + Tp(1),
                                            "publish [orders] [_INBOX.abc.7] [] complete" + Tp(2),
                                            "publish [orders] [] [] plain complete",
                                            "publish [orders] [_INBOX.abc.8] [] plain complete"}));
}

TEST(NatsDecoder, Deliveries) {
  const std::string wire = Hmsg("orders", "1", TracedBlock(3), "body") +
                           Hmsg("orders", "2", TracedBlock(4), "body", "_INBOX.r.1") +
                           Msg("orders", "3", "body") + Msg("orders", "4", "", "_INBOX.r.2");
  EXPECT_EQ(Decode(Records(wire)), (Strings{"deliver [orders] [] [1] complete" + Tp(3),
                                            "deliver [orders] [_INBOX.r.1] [2] complete" + Tp(4),
                                            "deliver [orders] [] [3] plain complete",
                                            "deliver [orders] [_INBOX.r.2] [4] plain complete"}));
}

TEST(NatsDecoder, HmsgWithAStatusLine) {
  // What nats-server sends a requester when nobody listens, and a request timeout.
  const std::string wire =
      Hmsg("_INBOX.x.1", "1", HeaderBlock({}, "503"), "") +
      Hmsg("_INBOX.x.2", "2", HeaderBlock({{"Nats-Pending-Messages", "1"}}, "408 Request Timeout"),
           "");
  EXPECT_EQ(Decode(Records(wire)), (Strings{"deliver [_INBOX.x.1] [] [1] status 503 complete",
                                            "deliver [_INBOX.x.2] [] [2] status 408 complete "
                                            "{Nats-Pending-Messages}={1}"}));
}

TEST(NatsDecoder, OtherOperationsAreIgnored) {
  const std::string records =
      "SUB orders 1\r\nSUB orders workers 2\r\nUNSUB 1\r\nUNSUB 2 10\r\nPING\r\nPONG\r\n+OK\r\n"
      "-ERR 'Unknown Protocol Operation'\r\nINFO {\"a\":1}\r\nCONNECT {}\r\n";
  EXPECT_TRUE(Decode(records, kDefaultCap, true).empty());
}

TEST(NatsDecoder, CaseVariantsAndTabs) {
  const std::string block = TracedBlock(5);
  const std::string records = "hpub\torders\t\t_INBOX.1 " + std::to_string(block.size()) + "\t" +
                              std::to_string(block.size() + 3) + " \r\n" + block +
                              "HmSg  orders  9  " + std::to_string(block.size()) + "  " +
                              std::to_string(block.size()) + "\r\n" + block +
                              "pub orders 3\r\nmsg\torders\t9\t3\r\nping\r\n+ok\r\n";
  EXPECT_EQ(Decode(records), (Strings{"publish [orders] [_INBOX.1] [] complete" + Tp(5),
                                      "deliver [orders] [] [9] complete" + Tp(5),
                                      "publish [orders] [] [] plain complete",
                                      "deliver [orders] [] [9] plain complete"}));
}

TEST(NatsDecoder, ColonsInValuesAndRepeatedNames) {
  const std::string block = HeaderBlock({{"traceparent", Traceparent(1)},
                                         {"traceparent", Traceparent(2)},
                                         {"url", "http://a:80/b"},
                                         {"Empty", ""}});
  EXPECT_EQ(Decode(Records(Hpub("s", block, "x"))),
            (Strings{"publish [s] [] [] complete {traceparent}={" + Traceparent(1) +
                     "} {traceparent}={" + Traceparent(2) + "} {url}={http://a:80/b} {Empty}={}"}));
}

TEST(NatsDecoder, CapCutsTheHeaderBlock) {
  const std::string block =
      HeaderBlock({{"traceparent", Traceparent()}, {"x-padding", std::string(200, 'p')}});
  const std::string wire = Hpub("orders", block, "body") + Pub("next", "x");
  // Cut after the traceparent line: incomplete with what was read; the next line is in step.
  EXPECT_EQ(Decode(Records(wire, 100), 100),
            (Strings{"error truncated_headers",
                     "publish [orders] [] [] incomplete:truncated_headers {traceparent}={" +
                         Traceparent() + "}",
                     "publish [next] [] [] plain complete"}));
  // Exactly the block: complete. One byte less: cut.
  EXPECT_EQ(Decode(Records(wire, block.size()), block.size())[0],
            "publish [orders] [] [] complete {traceparent}={" + Traceparent() + "} {x-padding}={" +
                std::string(200, 'p') + "}");
  EXPECT_EQ(Decode(Records(wire, block.size() - 1), block.size() - 1)[0],
            "error truncated_headers");
  // Cut before any field line is whole.
  EXPECT_EQ(Decode(Records(Hpub("s", block, ""), 64), 64),
            (Strings{"error truncated_headers", "publish [s] [] [] incomplete:truncated_headers"}));
}

TEST(NatsDecoder, MalformedHeaderBlocks) {
  const std::string tp = "traceparent: " + Traceparent() + "\r\n";
  const std::string wire = Hpub("a", "HTTP/1.1\r\n" + tp + "\r\n", "x") +
                           Hpub("b", "NATS/1.0\r\n" + tp + "bad line\r\n\r\n", "x") +
                           Hpub("c", "NATS/1.0\r\n" + tp, "x") +
                           Hpub("d", "NATS/1.0\r\n" + tp + "\r\nextra", "x") + Pub("e", "x");
  EXPECT_EQ(
      Decode(Records(wire)),
      (Strings{"error bad_header_version", "publish [a] [] [] incomplete:bad_header_version",
               "error bad_header_line",
               "publish [b] [] [] incomplete:bad_header_line {traceparent}={" + Traceparent() + "}",
               "error bad_header_end",
               "publish [c] [] [] incomplete:bad_header_end {traceparent}={" + Traceparent() + "}",
               "error bad_header_end",
               "publish [d] [] [] incomplete:bad_header_end {traceparent}={" + Traceparent() + "}",
               "publish [e] [] [] plain complete"}));
}

TEST(NatsDecoder, ZeroHeaderBytes) {
  // Nothing follows the line: the block is empty, so it has no version line.
  EXPECT_EQ(Decode("HPUB s 0 5\r\nPUB t 1\r\n"),
            (Strings{"error bad_header_version", "publish [s] [] [] incomplete:bad_header_version",
                     "publish [t] [] [] plain complete"}));
}

// ---------------------------------------------------------------------------------------------
// Malformed lines: an error, nothing follows them, the next line is read.

TEST(NatsDecoder, GarbageLinesResync) {
  const std::string records = "GET / HTTP/1.1\r\n\r\n \tPUB x 1\r\nNATS/1.0\r\n\x01\x02\xff\r\n" +
                              Records(Hpub("after", TracedBlock(), "x"));
  EXPECT_EQ(Decode(records),
            (Strings{"error unknown_operation", "error unknown_operation",
                     "error unknown_operation", "error unknown_operation",
                     "error unknown_operation", "publish [after] [] [] complete" + Tp()}));
}

TEST(NatsDecoder, BadSizesFrameNoHeaderBlock) {
  // A header block that follows a bad line is read as lines (the kernel emits none there).
  const std::string records =
      "HPUB x 18446744073709551621 18446744073709551626\r\n"  // 2^64 + 5: overflow
      "HPUB x 4294967318 4294967323\r\n"                      // 2^32 + 22: would wrap
      "HPUB x -5 10\r\n"
      "HMSG x 1 five 10\r\n"
      "PUB x 1000000000\r\n"
      "MSG x 1 -1\r\n"
      "HPUB x 30 27\r\n"  // header bytes > total bytes
      "HMSG x 1 r 28 27\r\n"
      "PUB x\r\n"
      "HPUB x r y 22 27\r\n" +
      Records(Pub("ok", "x"));
  EXPECT_EQ(Decode(records),
            (Strings{"error bad_size", "error bad_size", "error bad_size", "error bad_size",
                     "error bad_size", "error bad_size", "error header_size_over_total",
                     "error header_size_over_total", "error bad_arguments", "error bad_arguments",
                     "publish [ok] [] [] plain complete"}));
}

TEST(NatsDecoder, LargestSizes) {
  // Nine digits is the most nats-server reads; the block is cut at cap.
  const std::string block = TracedBlock();
  const std::string records = "HPUB s 999999999 999999999\r\n" + block + std::string(100, 'z');
  DirectionDecoder d(block.size() + 100);
  Recorder rec;
  d.Feed(records, 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error bad_header_end",
                                "publish [s] [] [] incomplete:bad_header_end" + Tp()}));
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Long lines

TEST(NatsDecoder, LongLinesAreReportedAndTheirBlocksStillRead) {
  const std::size_t cap = 128;
  const std::string subject(150, 's');
  const std::string block = TracedBlock();  // copied whole under cap
  const std::string wire = Hpub(subject, block, "x") + Pub(subject, "x") +
                           Msg("m", "1", "x", std::string(130, 'r')) + Hpub("short", block, "x");
  EXPECT_EQ(
      Decode(Records(wire, cap), cap),
      (Strings{"error line_too_long", "publish [] [] [] complete" + Tp(), "error line_too_long",
               "publish [] [] [] plain complete", "error line_too_long",
               "deliver [] [] [] plain complete", "publish [short] [] [] complete" + Tp()}));
  // A long line that is not a message: one error, then the next line.
  EXPECT_EQ(Decode("SUB " + subject + " 1\r\n" + std::string(200, '\r') + "\r\nPING\r\n" + "HPUB " +
                       subject + " 9 8\r\nPUB a 1\r\n",
                   cap),
            (Strings{"error line_too_long", "error line_too_long", "error line_too_long",
                     "publish [a] [] [] plain complete"}));
  // Exactly cap bytes, "\r\n" included, fits.
  const std::string fits = "PUB " + std::string(cap - 8, 'f') + " 1\r\n";
  ASSERT_EQ(fits.size(), cap);
  EXPECT_EQ(Decode(fits, cap),
            (Strings{"publish [" + std::string(cap - 8, 'f') + "] [] [] plain complete"}));
  EXPECT_EQ(Decode("PUB " + std::string(cap - 7, 'f') + " 1\r\n", cap)[0], "error line_too_long");
}

// ---------------------------------------------------------------------------------------------
// Splits, loss, close

// A stream with every kind of line: its reports must not depend on where events split it.
std::string MixedWire() {
  return "INFO {\"server_id\":\"x\"}\r\n" + Pub("a", "12345") + "SUB orders 1\r\nPING\r\n" +
         Hpub("orders", TracedBlock(1), std::string(300, 'b'), "_INBOX.q.1") +
         Hmsg("orders", "1", TracedBlock(2), "payload") +
         Hmsg("big", "22",
              HeaderBlock({{"traceparent", Traceparent(3)}, {"pad", std::string(300, 'p')}}), "") +
         Msg("orders", "1", "hello", "_INBOX.q.2") +
         Hmsg("_INBOX.q.3", "5", HeaderBlock({}, "503"), "") + "PONG\r\n" +
         Pub(std::string(250, 'L'), "long subject") + Hpub("h", "NATS/1.0\r\nbad\r\n\r\n", "") +
         "UNSUB 1\r\n+OK\r\n-ERR 'x'\r\n";
}

std::string MixedRecords(std::size_t cap) {
  return Records(MixedWire(), cap) + "BOGUS\r\nHPUB x 1 x\r\n" + std::string(cap + 5, 'g') +
         "\r\nHPUB tail 60 70\r\nNATS/1.0\r\n";
}

TEST(NatsDecoder, MixedStreamReports) {
  // What SplitAtEveryPosition compares against, so that it cannot pass by reporting nothing.
  EXPECT_EQ(Decode(MixedRecords(kDefaultCap), kDefaultCap, true),
            (Strings{"publish [a] [] [] plain complete",
                     "publish [orders] [_INBOX.q.1] [] complete" + Tp(1),
                     "deliver [orders] [] [1] complete" + Tp(2),
                     "deliver [big] [] [22] complete {traceparent}={" + Traceparent(3) +
                         "} {pad}={" + std::string(300, 'p') + "}",
                     "deliver [orders] [_INBOX.q.2] [1] plain complete",
                     "deliver [_INBOX.q.3] [] [5] status 503 complete",
                     "publish [" + std::string(250, 'L') + "] [] [] plain complete",
                     "error bad_header_line", "publish [h] [] [] incomplete:bad_header_line",
                     "error unknown_operation", "error bad_size", "error line_too_long",
                     "error truncated", "publish [tail] [] [] incomplete:truncated"}));
  // With cap 200: the big block is cut, the long subject's line is too long.
  const Strings mid = Decode(MixedRecords(200), 200, true);
  auto has = [&mid](const Strings& seq) {
    return std::search(mid.begin(), mid.end(), seq.begin(), seq.end()) != mid.end();
  };
  EXPECT_TRUE(has({"error truncated_headers",
                   "deliver [big] [] [22] incomplete:truncated_headers {traceparent}={" +
                       Traceparent(3) + "}"}));
  EXPECT_TRUE(has({"deliver [orders] [_INBOX.q.2] [1] plain complete",
                   "deliver [_INBOX.q.3] [] [5] status 503 complete", "error line_too_long",
                   "publish [] [] [] plain complete", "error bad_header_line"}));
}

TEST(NatsDecoder, SplitAtEveryPositionGivesTheSameReports) {
  for (std::size_t cap : {std::size_t{64}, std::size_t{200}, kDefaultCap}) {
    SCOPED_TRACE(cap);
    const std::string records = MixedRecords(cap);
    const Strings want = Decode(records, cap, true);
    ASSERT_GE(want.size(), 10u);
    for (std::size_t i = 0; i <= records.size(); ++i) {
      DirectionDecoder d(cap);
      Recorder rec;
      d.Feed(std::string_view(records).substr(0, i), 0, rec);
      EXPECT_LE(d.buffered_bytes(), 2 * cap);
      d.Feed(std::string_view(records).substr(i), kCont, rec);
      d.Close(rec);
      ASSERT_EQ(rec.lines, want) << "split at " << i;
    }
    // One byte per event.
    DirectionDecoder d(cap);
    Recorder rec;
    for (std::size_t i = 0; i < records.size(); ++i) {
      d.Feed(std::string_view(records).substr(i, 1), i == 0 ? 0 : kCont, rec);
      EXPECT_LE(d.buffered_bytes(), 2 * cap);
      EXPECT_LE(d.memory_bytes(), DirectionDecoder::MemoryBound(cap));
    }
    d.Close(rec);
    EXPECT_EQ(rec.lines, want);
  }
}

TEST(NatsDecoder, LossReportsPendingThenSkipsContinuationsThenResumes) {
  DirectionDecoder d;
  Recorder rec;
  const std::string first = Records(Hpub("orders", TracedBlock(1), "x", "r"));
  const std::size_t block_at = first.find("NATS/1.0");
  // The line, and its block up to inside its second field line.
  d.Feed(first.substr(0, block_at + 85), 0, rec);
  EXPECT_TRUE(d.block_pending());
  EXPECT_TRUE(rec.lines.empty());

  // Lost events, then one that begins inside a line: skipped whatever it holds.
  d.Feed(Records(Pub("lost", "x")) + "garbage", kLost | kCont, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost",
                                "publish [orders] [r] [] incomplete:lost "
                                "{traceparent}={" +
                                    Traceparent(1) + "}"}));
  EXPECT_FALSE(d.block_pending());
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_TRUE(d.skipping());
  d.Feed(Records(Pub("still", "x")), kCont, rec);  // still inside: skipped
  EXPECT_TRUE(d.skipping());

  // The first event without CONTINUATION begins at a line: resume there.
  rec.lines.clear();
  d.Feed(Records(Hmsg("orders", "4", TracedBlock(4), "x")), 0, rec);
  EXPECT_FALSE(d.skipping());
  EXPECT_EQ(rec.lines, (Strings{"deliver [orders] [] [4] complete" + Tp(4)}));
}

TEST(NatsDecoder, LossWithoutContinuationResumesAtOnce) {
  DirectionDecoder d;
  Recorder rec;
  const std::string records = Records(Hpub("s", TracedBlock(), "x"));
  d.Feed(records.substr(0, 5), 0, rec);  // a partial line, dropped by the loss
  d.Feed(records, kLost, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost", "publish [s] [] [] complete" + Tp()}));
  EXPECT_FALSE(d.skipping());
  // Inside a long line: dropped too.
  DirectionDecoder small(64);
  rec.lines.clear();
  small.Feed("PUB " + std::string(100, 'x'), 0, rec);
  EXPECT_TRUE(small.in_long_line());
  small.Feed("PING\r\nPUB a 1\r\n", kLost, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost", "publish [a] [] [] plain complete"}));
}

TEST(NatsDecoder, ContinuationIsIgnoredOutsideLoss) {
  DirectionDecoder d;
  Recorder rec;
  d.Feed(Records(Pub("a", "x") + Hpub("b", TracedBlock(), "y")), kCont, rec);
  EXPECT_EQ(rec.lines.size(), 2u);
}

TEST(NatsDecoder, CloseReportsPendingBlocksAndPartialLines) {
  const std::string records = Records(Hpub("s", TracedBlock(), "x"));
  DirectionDecoder d;
  Recorder rec;
  d.Feed(records.substr(0, records.size() - 5), 0, rec);  // inside the x-test line
  d.Close(rec);
  EXPECT_EQ(rec.lines,
            (Strings{"error truncated", "publish [s] [] [] incomplete:truncated {traceparent}={" +
                                            Traceparent() + "}"}));
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_FALSE(d.block_pending());
  EXPECT_EQ(d.memory_bytes(), 0u);

  // A partial line alone; a long line.
  rec.lines.clear();
  d.Feed("PUB s", 0, rec);
  d.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error truncated"}));
  rec.lines.clear();
  DirectionDecoder small(64);
  small.Feed(std::string(100, 'x'), 0, rec);
  small.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error truncated"}));
  EXPECT_FALSE(small.in_long_line());

  // As new: a whole stream decodes, and a clean close reports nothing.
  rec.lines.clear();
  d.Feed(records, 0, rec);
  d.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"publish [s] [] [] complete" + Tp()}));
}

// ---------------------------------------------------------------------------------------------
// Memory

TEST(NatsDecoder, LinesAndBlocksInsideOneEventAreNotCopied) {
  DirectionDecoder d;
  Recorder rec;
  // (A block without fields, so that no field vector is allocated either.)
  d.Feed(Records(Hpub("a", HeaderBlock({}), "x") + Pub("b", "y") + "PING\r\n"), 0, rec);
  EXPECT_EQ(rec.lines.size(), 2u);
  EXPECT_EQ(d.memory_bytes(), 0u);
  // Split inside the block: the line and the block's start are kept.
  const std::string records = Records(Hpub("a", TracedBlock(), "x"));
  d.Feed(records.substr(0, 30), 0, rec);
  EXPECT_TRUE(d.block_pending());
  EXPECT_EQ(d.buffered_bytes(), 30u - 2u);  // the line without its "\r\n", the block's start
  d.Feed(records.substr(30), 0, rec);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_EQ(rec.lines.size(), 3u);
  EXPECT_LE(d.memory_bytes(), DirectionDecoder::MemoryBound(kDefaultCap));
}

TEST(NatsDecoder, HugeDeclaredSizesAllocateNothingHuge) {
  const std::size_t cap = 256;
  DirectionDecoder d(cap);
  Recorder rec;
  // A header block declared 999999999 bytes: cap bytes follow; then lines of all sizes; fed a
  // byte at a time so that all of it is buffered.
  const std::string line = "HPUB s 999999999 999999999\r\n";
  std::string stream = line + "NATS/1.0\r\ntraceparent: " + Traceparent() + "\r\nx: ";
  stream += std::string(line.size() + cap - stream.size(), 'v');
  stream += std::string(5000, 'L') + "\r\n" + std::string(cap - 2, 'M') + "\r\n";
  for (char c : stream) {
    d.Feed(std::string_view(&c, 1), 0, rec);
    EXPECT_LE(d.buffered_bytes(), 2 * cap);
    EXPECT_LE(d.memory_bytes(), DirectionDecoder::MemoryBound(cap));
  }
  EXPECT_EQ(rec.lines, (Strings{"error truncated_headers",
                                "publish [s] [] [] incomplete:truncated_headers {traceparent}={" +
                                    Traceparent() + "}",
                                "error line_too_long", "error unknown_operation"}));
}

TEST(NatsDecoder, ManyFieldsAreReleasedAfterTheMessage) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (int i = 0; i < 300; ++i) fields.emplace_back("k" + std::to_string(i), "v");
  const std::string records = Records(Hpub("s", HeaderBlock(fields), "x"));
  DirectionDecoder d;
  Recorder rec;
  d.Feed(records, 0, rec);
  ASSERT_EQ(rec.lines.size(), 1u);
  EXPECT_NE(rec.lines[0].find("{k299}={v}"), std::string::npos);
  EXPECT_LE(d.memory_bytes(), DirectionDecoder::kRetainFields * sizeof(HeaderField) +
                                  2 * DirectionDecoder::kRetainBytes);
}

}  // namespace
}  // namespace tracegap::nats
