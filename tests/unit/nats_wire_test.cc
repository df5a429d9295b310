#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/nats/errors.h"
#include "protocols/nats/header_block.h"
#include "protocols/nats/line.h"
#include "protocols/nats/message.h"

namespace tracegap::nats {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------
// Labels

TEST(NatsLabels, ErrorLabelsAreDistinctMetricValues) {
  std::set<std::string_view> seen;
  for (std::string_view l : kErrorLabels) {
    EXPECT_FALSE(l.empty());
    EXPECT_NE(l, "invalid");
    EXPECT_TRUE(std::all_of(l.begin(), l.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    })) << l;
    EXPECT_TRUE(seen.insert(l).second) << "duplicate label " << l;
  }
  EXPECT_EQ(kErrorLabels.size(), static_cast<std::size_t>(Error::kCount) - 1);
  EXPECT_EQ(kErrorLabels.front(), "lost");
  EXPECT_EQ(Label(Error::kLineTooLong), "line_too_long");
  EXPECT_EQ(Label(Error::kUnknownOperation), "unknown_operation");
  EXPECT_EQ(Label(Error::kBadSize), "bad_size");
  EXPECT_EQ(Label(Error::kHeaderSizeOverTotal), "header_size_over_total");
  EXPECT_EQ(Label(Error::kTruncatedHeaders), "truncated_headers");
  EXPECT_EQ(Label(Error::kBadHeaderEnd), "bad_header_end");
  EXPECT_EQ(Label(Error::kNone), "none");
  EXPECT_EQ(Label(static_cast<Error>(200)), "invalid");
}

TEST(NatsLabels, MessageKindsAndOperations) {
  EXPECT_EQ(Labels(kAllMessageKinds), (std::array<std::string_view, 2>{"publish", "deliver"}));
  EXPECT_EQ(Label(static_cast<MessageKind>(9)), kInvalidLabel);
  EXPECT_EQ(Label(Operation::kHmsg), "hmsg");
  EXPECT_EQ(Label(static_cast<Operation>(99)), kInvalidLabel);
}

// ---------------------------------------------------------------------------------------------
// Control lines

TEST(NatsLine, OperationsInAnyCase) {
  const std::vector<std::pair<std::string_view, Operation>> cases = {
      {"PUB", Operation::kPub},          {"pub", Operation::kPub},
      {"Pub", Operation::kPub},          {"HPUB", Operation::kHpub},
      {"hPuB", Operation::kHpub},        {"MSG", Operation::kMsg},
      {"msg", Operation::kMsg},          {"HMSG", Operation::kHmsg},
      {"hmsg", Operation::kHmsg},        {"SUB", Operation::kSub},
      {"UNSUB", Operation::kUnsub},      {"PING", Operation::kPing},
      {"pong", Operation::kPong},        {"+OK", Operation::kOk},
      {"+ok", Operation::kOk},           {"-ERR", Operation::kErr},
      {"INFO", Operation::kInfo},        {"connect", Operation::kConnect},
      {"", Operation::kUnknown},         {"PUBX", Operation::kUnknown},
      {"PU", Operation::kUnknown},       {"CONNECTX", Operation::kUnknown},
      {"NATS/1.0", Operation::kUnknown},
  };
  for (const auto& [name, op] : cases) EXPECT_EQ(OperationOf(name), op) << name;
}

TEST(NatsLine, Sizes) {
  EXPECT_EQ(ParseSize("0").value, 0u);
  EXPECT_TRUE(ParseSize("0").valid);
  EXPECT_EQ(ParseSize("27").value, 27u);
  EXPECT_EQ(ParseSize("000000027").value, 27u);
  EXPECT_EQ(ParseSize("999999999").value, 999999999u);
  for (std::string_view bad : {"", "1000000000", "0000000001", "99999999999999999999999", "-1",
                               "+1", "1a", "0x10", " 1", "1 ", "１"}) {
    EXPECT_FALSE(ParseSize(bad).valid) << bad;
  }
}

// The line's meaning in a few words, for the table below.
std::string Describe(std::string_view line) {
  const ControlLine c = ParseLine(line);
  const LineMeaning& m = c.meaning;
  if (m.error != Error::kNone) return "error " + std::string(Label(m.error));
  if (!m.message) return std::string(Label(c.op));
  std::string s = std::string(Label(m.kind)) + " [" + std::string(c.subject) + "] [" +
                  std::string(c.reply_to) + "] [" + std::string(c.sid) + "]";
  if (m.header_block) s += " hdr " + std::to_string(m.header_bytes);
  return s + " total " + std::to_string(m.total_bytes);
}

TEST(NatsLine, EveryOperation) {
  const std::vector<std::pair<std::string_view, std::string>> cases = {
      {"PUB orders 5", "publish [orders] [] [] total 5"},
      {"PUB orders _INBOX.abc.1 5", "publish [orders] [_INBOX.abc.1] [] total 5"},
      {"HPUB orders 22 27", "publish [orders] [] [] hdr 22 total 27"},
      {"HPUB orders reply 22 27", "publish [orders] [reply] [] hdr 22 total 27"},
      {"MSG orders 9 5", "deliver [orders] [] [9] total 5"},
      {"MSG orders 9 reply 5", "deliver [orders] [reply] [9] total 5"},
      {"HMSG orders 9 22 27", "deliver [orders] [] [9] hdr 22 total 27"},
      {"HMSG orders 9 reply 22 27", "deliver [orders] [reply] [9] hdr 22 total 27"},
      {"SUB orders 9", "sub"},
      {"SUB orders workers 9", "sub"},
      {"UNSUB 9", "unsub"},
      {"UNSUB 9 10", "unsub"},
      {"PING", "ping"},
      {"PONG", "pong"},
      {"+OK", "+ok"},
      {"-ERR 'Unknown Protocol Operation'", "-err"},
      {"-ERR", "-err"},
      {"INFO {\"server_id\":\"x\"}", "info"},
      {"CONNECT {\"verbose\":false}", "connect"},
      // Case, tabs and runs of separators.
      {"pub orders 5", "publish [orders] [] [] total 5"},
      {"hpub\torders\t\treply \t 22\t27", "publish [orders] [reply] [] hdr 22 total 27"},
      {"HmSg a.b.c 1 0 0", "deliver [a.b.c] [] [1] hdr 0 total 0"},
      {"MSG  x  1  5  ", "deliver [x] [] [1] total 5"},
      {"PING ", "ping"},
      {"ping\t", "ping"},
      // Headers as large as the payload (no body) are fine.
      {"HPUB s 27 27", "publish [s] [] [] hdr 27 total 27"},
  };
  for (const auto& [line, want] : cases) EXPECT_EQ(Describe(line), want) << line;
}

TEST(NatsLine, MalformedLines) {
  const std::vector<std::pair<std::string_view, std::string>> cases = {
      {"", "error unknown_operation"},
      {" PUB x 5", "error unknown_operation"},  // the operation starts the line
      {"PUBLISH x 5", "error unknown_operation"},
      {"NATS/1.0", "error unknown_operation"},
      {"traceparent: 00-aa-bb-01", "error unknown_operation"},
      {"\x01\xff", "error unknown_operation"},
      {"PUB x", "error bad_arguments"},
      {"PUB", "error bad_arguments"},
      {"PUB x y z 5", "error bad_arguments"},
      {"HPUB x 5", "error bad_arguments"},
      {"HPUB x r y 22 27", "error bad_arguments"},
      {"MSG x 5", "error bad_arguments"},
      {"HMSG x 9 27", "error bad_arguments"},
      {"HMSG x 9 r y 22 27", "error bad_arguments"},
      {"SUB x", "error bad_arguments"},
      {"UNSUB", "error bad_arguments"},
      {"UNSUB 1 2 3", "error bad_arguments"},
      {"PING x", "error bad_arguments"},
      {"+OK done", "error bad_arguments"},
      // Sizes: negative, non-numeric, too many digits (nats-server's limit: 9).
      {"PUB x -5", "error bad_size"},
      {"PUB x five", "error bad_size"},
      {"PUB x 1000000000", "error bad_size"},
      {"PUB x 18446744073709551621", "error bad_size"},
      {"MSG x 1 r 5b", "error bad_size"},
      {"HPUB x 22 -27", "error bad_size"},
      {"HPUB x -22 27", "error bad_size"},
      {"HPUB x 4294967318 4294967323", "error bad_size"},  // 2^32 + 22: would wrap to 22
      {"HMSG x 1 22 ab", "error bad_size"},
      {"UNSUB 1 x", "error bad_size"},
      {"HPUB x 28 27", "error header_size_over_total"},
      {"HMSG x 1 r 999999999 0", "error header_size_over_total"},
  };
  for (const auto& [line, want] : cases) EXPECT_EQ(Describe(line), want) << line;
}

TEST(NatsLine, ScannerInPiecesAgreesWithTheWholeLine) {
  const std::vector<std::string_view> lines = {"HPUB orders reply 22 27",
                                               "hmsg\ta 1 r\t 0 0 ",
                                               "PUB x 1000000000",
                                               "MSG x 1 2 3 4",
                                               "CONNECTX",
                                               " HPUB a 1 2",
                                               "UNSUB 7",
                                               "HPUB x 28 27",
                                               "HPUB s 0001 000000002"};
  for (std::string_view line : lines) {
    LineScanner whole;
    whole.Feed(line);
    const LineShape want = whole.Finish();
    for (std::size_t i = 0; i <= line.size(); ++i) {
      for (std::size_t j = i; j <= line.size(); ++j) {
        LineScanner s;
        s.Feed(line.substr(0, i));
        s.Feed(line.substr(i, j - i));
        s.Feed(line.substr(j));
        const LineShape got = s.Finish();
        ASSERT_EQ(got.op, want.op) << line << " " << i << " " << j;
        ASSERT_EQ(got.fields, want.fields);
        ASSERT_EQ(got.last.valid, want.last.valid);
        ASSERT_EQ(got.last.value, want.last.value);
        ASSERT_EQ(got.before_last.valid, want.before_last.valid);
        ASSERT_EQ(got.before_last.value, want.before_last.value);
      }
    }
  }
  // The scanner's sizes are ParseSize's.
  for (std::string_view f : {"0", "12", "999999999", "1000000000", "00000000012", "1x", "x"}) {
    LineScanner s;
    s.Feed("UNSUB 1 ");
    s.Feed(f);
    const LineShape shape = s.Finish();
    EXPECT_EQ(shape.last.valid, ParseSize(f).valid) << f;
    EXPECT_EQ(shape.last.value, ParseSize(f).value) << f;
    EXPECT_EQ(shape.before_last.value, 1u);
  }
}

TEST(NatsLine, LongOperationNamesAreUnknown) {
  LineScanner s;
  s.Feed(std::string(10000, 'P') + " x 5");
  EXPECT_EQ(s.Finish().op, Operation::kUnknown);
  EXPECT_EQ(s.Finish().fields, 2u);
}

// ---------------------------------------------------------------------------------------------
// Header blocks

struct Parsed {
  Error error;
  uint16_t status;
  Pairs fields;
};

Parsed Block(std::string_view bytes, bool whole = true) {
  std::vector<HeaderField> fields;
  const HeaderBlock b = ParseHeaderBlock(bytes, whole, fields);
  Pairs pairs;
  for (const HeaderField& f : fields) pairs.emplace_back(f.name, f.value);
  EXPECT_LE(fields.size(), bytes.size() / 4);
  return {b.error, b.status, pairs};
}

constexpr std::string_view kTp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(NatsHeaderBlock, FieldsInOrder) {
  const std::string block = "NATS/1.0\r\ntraceparent: " + std::string(kTp) +
                            "\r\nX-Test: 1\r\nx-test:2\r\nempty:\r\n\r\n";
  const Parsed p = Block(block);
  EXPECT_EQ(p.error, Error::kNone);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(
      p.fields,
      (Pairs{{"traceparent", std::string(kTp)}, {"X-Test", "1"}, {"x-test", "2"}, {"empty", ""}}));
}

TEST(NatsHeaderBlock, ValuesKeepColonsAndLoseSurroundingWhitespace) {
  const Parsed p =
      Block("NATS/1.0\r\nurl: \t http://a:8080/x?y=1 \t\r\ntime:12:30:00\r\nk:: v\r\n\r\n");
  EXPECT_EQ(p.error, Error::kNone);
  EXPECT_EQ(p.fields, (Pairs{{"url", "http://a:8080/x?y=1"}, {"time", "12:30:00"}, {"k", ": v"}}));
}

TEST(NatsHeaderBlock, EmptyAndStatusBlocks) {
  EXPECT_EQ(Block("NATS/1.0\r\n\r\n").error, Error::kNone);
  EXPECT_TRUE(Block("NATS/1.0\r\n\r\n").fields.empty());
  const Parsed no_responders = Block("NATS/1.0 503\r\n\r\n");
  EXPECT_EQ(no_responders.error, Error::kNone);
  EXPECT_EQ(no_responders.status, 503);
  const Parsed timeout = Block("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n");
  EXPECT_EQ(timeout.error, Error::kNone);
  EXPECT_EQ(timeout.status, 408);
  EXPECT_EQ(timeout.fields, (Pairs{{"Nats-Pending-Messages", "1"}}));
  EXPECT_EQ(Block("NATS/1.0\t100\tIdle Heartbeat\r\n\r\n").status, 100);
  EXPECT_EQ(Block("NATS/1.0 \r\n\r\n").error, Error::kNone);
}

TEST(NatsHeaderBlock, BadVersionLines) {
  for (std::string_view b :
       {"", "NATS/1.1\r\n\r\n", "nats/1.0\r\n\r\n", "NATS/1.01\r\n\r\n", "HTTP/1.1\r\n\r\n",
        "NATS/1.0 50\r\n\r\n", "NATS/1.0 5033\r\n\r\n", "NATS/1.0 099\r\n\r\n",
        "NATS/1.0 abc\r\n\r\n", "\r\n\r\n", "NATS/1.\r\n\r\n"}) {
    EXPECT_EQ(Block(b).error, Error::kBadHeaderVersion) << b;
  }
  // Cut before the version line is whole: judged on what was copied.
  EXPECT_EQ(Block("NATS/1", false).error, Error::kTruncatedHeaders);
  EXPECT_EQ(Block("NATX", false).error, Error::kBadHeaderVersion);
  EXPECT_EQ(Block("NATS/1.0 50", false).error, Error::kTruncatedHeaders);
  EXPECT_EQ(Block("NATS/1.0x", false).error, Error::kBadHeaderVersion);
}

TEST(NatsHeaderBlock, BadFieldLines) {
  const std::string tp = "traceparent: " + std::string(kTp) + "\r\n";
  for (std::string_view line : {"no colon\r\n", ": empty name\r\n", "sp ace: v\r\n",
                                " folded: v\r\n", "tab\t: v\r\n", "\x7f: v\r\n"}) {
    const Parsed p = Block("NATS/1.0\r\n" + tp + std::string(line) + "X: y\r\n\r\n");
    EXPECT_EQ(p.error, Error::kBadHeaderLine) << line;
    EXPECT_EQ(p.fields, (Pairs{{"traceparent", std::string(kTp)}})) << line;  // read before
  }
}

TEST(NatsHeaderBlock, EndMustBeAnEmptyLineAtTheDeclaredSize) {
  // No empty line; a last line without "\r\n"; bytes after the empty line.
  EXPECT_EQ(Block("NATS/1.0\r\nA: b\r\n").error, Error::kBadHeaderEnd);
  EXPECT_EQ(Block("NATS/1.0\r\nA: b\r\n").fields, (Pairs{{"A", "b"}}));
  EXPECT_EQ(Block("NATS/1.0\r\nA: b").error, Error::kBadHeaderEnd);
  EXPECT_EQ(Block("NATS/1.0").error, Error::kBadHeaderEnd);
  EXPECT_EQ(Block("NATS/1.0\r\nA: b\r\n\r\nxx").error, Error::kBadHeaderEnd);
  // Cut: an end seen before the copy's end (or at it) means the declared size runs past it.
  EXPECT_EQ(Block("NATS/1.0\r\nA: b\r\n\r\n", false).error, Error::kBadHeaderEnd);
}

TEST(NatsHeaderBlock, CutBlocksKeepTheirWholeLines) {
  const std::string block = "NATS/1.0\r\ntraceparent: " + std::string(kTp) +
                            "\r\nx-pad: " + std::string(200, 'p') + "\r\n\r\n";
  for (std::size_t cut = 0; cut < block.size(); ++cut) {
    const Parsed p = Block(std::string_view(block).substr(0, cut), false);
    ASSERT_EQ(p.error, Error::kTruncatedHeaders) << cut;
    const std::size_t tp_end = block.find("\r\nx-pad") + 2;
    const std::size_t pad_end = block.size() - 2;
    ASSERT_EQ(p.fields.size(), cut >= pad_end ? 2u : cut >= tp_end ? 1u : 0u) << cut;
  }
  const Parsed whole = Block(block);
  EXPECT_EQ(whole.error, Error::kNone);
  EXPECT_EQ(whole.fields.size(), 2u);
}

}  // namespace
}  // namespace tracegap::nats
