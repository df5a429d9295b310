#include "protocols/http1/parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/http1/message.h"

namespace tracegap::http1 {
namespace {

using namespace std::string_literals;

class ParserTest : public ::testing::Test {
 protected:
  // Keeps the block alive, since the message views it.
  ParseError Parse(std::string block, ParseError incomplete_reason = ParseError::kOk) {
    block_ = std::move(block);
    return ParseHeaderBlock(block_, incomplete_reason, msg_, scratch_);
  }
  ParseError ParseRequestLine(std::string_view line) {
    return Parse(std::string(line) + "\r\nHost: h\r\n\r\n");
  }
  ParseError ParseStatusLine(std::string_view line) {
    return Parse(std::string(line) + "\r\nServer: s\r\n\r\n");
  }
  ParseError ParseHeader(std::string_view header) {
    return Parse("GET / HTTP/1.1\r\n" + std::string(header) + "\r\n\r\n");
  }
  std::string_view Header(std::size_t i) const { return msg_.headers[i].value; }

  std::string block_;
  Message msg_;
  std::vector<HeaderField> scratch_;
};

TEST_F(ParserTest, SimpleRequest) {
  ASSERT_EQ(Parse("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
            ParseError::kOk);
  EXPECT_EQ(msg_.kind, MessageKind::kRequest);
  EXPECT_TRUE(msg_.complete);
  EXPECT_EQ(msg_.incomplete_reason, ParseError::kOk);
  EXPECT_EQ(msg_.method, "GET");
  EXPECT_EQ(msg_.path, "/a/b");
  EXPECT_EQ(msg_.authority, "example.com");
  EXPECT_EQ(msg_.version_minor, 1);
  EXPECT_FALSE(msg_.upgrade_h2c);
  ASSERT_EQ(msg_.headers.size(), 2u);
  EXPECT_EQ(msg_.headers[0].name, "Host");
  EXPECT_EQ(msg_.headers[1].name, "Accept");
  EXPECT_EQ(Header(1), "*/*");
}

TEST_F(ParserTest, SimpleResponse) {
  ASSERT_EQ(Parse("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.kind, MessageKind::kResponse);
  EXPECT_TRUE(msg_.complete);
  EXPECT_EQ(msg_.status, 404);
  EXPECT_EQ(msg_.version_minor, 1);
  EXPECT_TRUE(msg_.method.empty());
  ASSERT_EQ(msg_.headers.size(), 1u);
  EXPECT_EQ(Header(0), "0");
}

TEST_F(ParserTest, StatusLineVariants) {
  for (const char* line : {"HTTP/1.1 204", "HTTP/1.1 204 ", "HTTP/1.1 204 No\tContent here",
                           "HTTP/1.1 204 \xc3\xa9t\xc3\xa9"}) {
    EXPECT_EQ(ParseStatusLine(line), ParseError::kOk) << line;
    EXPECT_EQ(msg_.status, 204) << line;
  }
  ASSERT_EQ(ParseStatusLine("HTTP/1.1 999 Request Denied"), ParseError::kOk);
  EXPECT_EQ(msg_.status, 999);
}

TEST_F(ParserTest, InformationalStatus) {
  ASSERT_EQ(Parse("HTTP/1.1 100 Continue\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.status, 100);
  EXPECT_TRUE(msg_.headers.empty());
  ASSERT_EQ(Parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.status, 101);
  EXPECT_FALSE(msg_.upgrade_h2c);  // only requests ask for an upgrade
}

TEST_F(ParserTest, Http10) {
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.version_minor, 0);
  EXPECT_TRUE(msg_.authority.empty());
  EXPECT_TRUE(msg_.headers.empty());
  ASSERT_EQ(Parse("HTTP/1.0 200 OK\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.version_minor, 0);
}

TEST_F(ParserTest, Methods) {
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
                             "PROPFIND", "M-SEARCH", "get", "X~!#$%&'*+.^_`|"}) {
    ASSERT_EQ(ParseRequestLine(std::string(method) + " /x HTTP/1.1"), ParseError::kOk) << method;
    EXPECT_EQ(msg_.method, method);
  }
  for (const char* method : {"GE(T", "GE\"T", "G\x01T", "\xc3\xa9", "GET/"}) {
    EXPECT_EQ(ParseRequestLine(std::string(method) + " /x HTTP/1.1"), ParseError::kBadStartLine)
        << method;
  }
}

struct ErrorCase {
  std::string block;
  ParseError want;
};

TEST_F(ParserTest, StartLineErrors) {
  const std::vector<ErrorCase> cases = {
      {"GET /\r\n\r\n", ParseError::kBadStartLine},  // HTTP/0.9
      {"GET\r\n\r\n", ParseError::kBadStartLine},
      {"\r\n\r\n", ParseError::kBadStartLine},
      {" GET / HTTP/1.1\r\n\r\n", ParseError::kBadStartLine},
      {"\0GET / HTTP/1.1\r\n\r\n"s, ParseError::kBadStartLine},
      {"GET  / HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET / x HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET /a\rb HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET foo HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET 1http://h/ HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET http:/h HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET :// HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"CONNECT ?h:443 HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"CONNECT #h HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"CONNECT u:pw@h:443 HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"CONNECT /p HTTP/1.1\r\n\r\n", ParseError::kBadTarget},
      {"GET / HTTP/1.2\r\n\r\n", ParseError::kBadVersion},
      {"GET / HTTP/2.0\r\n\r\n", ParseError::kBadVersion},
      {"GET / HTTP/1.10\r\n\r\n", ParseError::kBadVersion},
      {"GET / http/1.1\r\n\r\n", ParseError::kBadVersion},
      {"GET / HTTP/1.1 \r\n\r\n", ParseError::kBadVersion},
      {"GET / HTTP/1.1\r\r\n\r\n", ParseError::kBadVersion},
      {"HTTP/1.2 200 OK\r\n\r\n", ParseError::kBadVersion},
      {"HTTP/2 200\r\n\r\n", ParseError::kBadVersion},
      {"HTTP/1.1x 200 OK\r\n\r\n", ParseError::kBadVersion},
      {"HTTP/1.1\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 \r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 20 OK\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 2000 OK\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 2x0 OK\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 099 Low\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1  200 OK\r\n\r\n", ParseError::kBadStatus},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", ParseError::kBadStartLine},
      {"HTTP/1.1 200 O\rK\r\n\r\n", ParseError::kBadStartLine},
      {"PRI * HTTP/2.0\r\n\r\n", ParseError::kNotHttp1},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_EQ(Parse(c.block), c.want) << testing::PrintToString(c.block);
  }
}

TEST_F(ParserTest, Http2PrefaceIsNotHttp1) {
  // The reassembler hands over the preface's first block; the "SM" part follows it.
  EXPECT_EQ(Parse("PRI * HTTP/2.0\r\n\r\n"), ParseError::kNotHttp1);
  EXPECT_EQ(Parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ParseError::kNotHttp1);
}

TEST_F(ParserTest, OriginFormStripsQueryAndFragment) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/", "/"},         {"/a/b?x=1&secret=2", "/a/b"},
      {"/?q", "/"},       {"/a#frag", "/a"},
      {"/a?x#f", "/a"},   {"//double", "//double"},
      {"/%41?b", "/%41"}, {"/\xc3\xa9", "/\xc3\xa9"},
  };
  for (const auto& [target, path] : cases) {
    ASSERT_EQ(ParseRequestLine("GET " + target + " HTTP/1.1"), ParseError::kOk) << target;
    EXPECT_EQ(msg_.path, path) << target;
    EXPECT_EQ(msg_.authority, "h");
  }
}

TEST_F(ParserTest, AbsoluteForm) {
  struct Case {
    std::string target, path, authority;
  };
  const std::vector<Case> cases = {
      {"http://example.com/p?q=secret", "/p", "example.com"},
      {"http://example.com", "/", "example.com"},
      {"http://example.com?q", "/", "example.com"},
      {"https://user:pw@h:8443/a/b#f", "/a/b", "h:8443"},
      {"HTTP://H/x", "/x", "H"},
      {"coap+tcp.x-y://h/z", "/z", "h"},
      {"http:///p", "/p", ""},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(ParseRequestLine("GET " + c.target + " HTTP/1.1"), ParseError::kOk) << c.target;
    EXPECT_EQ(msg_.path, c.path) << c.target;
    EXPECT_EQ(msg_.authority, c.authority) << c.target;  // the target's, not Host's "h"
  }
}

TEST_F(ParserTest, AuthorityFormAndAsterisk) {
  ASSERT_EQ(Parse("CONNECT example.com:443 HTTP/1.1\r\nHost: other:443\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.path, "example.com:443");
  EXPECT_EQ(msg_.authority, "example.com:443");
  ASSERT_EQ(ParseRequestLine("CONNECT h:443?x HTTP/1.1"), ParseError::kOk);
  EXPECT_EQ(msg_.path, "h:443");
  ASSERT_EQ(Parse("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.path, "*");
  EXPECT_EQ(msg_.authority, "example.com");
}

TEST_F(ParserTest, NamesAreCaseInsensitive) {
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nhOsT: a.example\r\nUPGRADE: websocket, H2C\r\n\r\n"),
            ParseError::kOk);
  EXPECT_EQ(msg_.authority, "a.example");
  EXPECT_TRUE(msg_.upgrade_h2c);
  EXPECT_EQ(msg_.headers[0].name, "hOsT");  // as on the wire
}

TEST_F(ParserTest, UpgradeH2c) {
  for (const char* value : {"h2c", "websocket,h2c", " foo ,\th2c\t, bar", "H2c"}) {
    ASSERT_EQ(ParseHeader("Upgrade: "s + value), ParseError::kOk);
    EXPECT_TRUE(msg_.upgrade_h2c) << value;
  }
  for (const char* value : {"h2", "h2cx", "xh2c", "websocket", "", "h2c/1"}) {
    ASSERT_EQ(ParseHeader("Upgrade: "s + value), ParseError::kOk);
    EXPECT_FALSE(msg_.upgrade_h2c) << value;
  }
  ASSERT_EQ(ParseHeader("Connection: h2c"), ParseError::kOk);
  EXPECT_FALSE(msg_.upgrade_h2c);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nUpgrade: a\r\nUpgrade: h2c\r\n\r\n"), ParseError::kOk);
  EXPECT_TRUE(msg_.upgrade_h2c);
}

TEST_F(ParserTest, ListHasToken) {
  EXPECT_TRUE(ListHasToken("a, b ,c", "b"));
  EXPECT_TRUE(ListHasToken(",,B,", "b"));
  EXPECT_FALSE(ListHasToken("", "b"));
  EXPECT_FALSE(ListHasToken("a b", "b"));
}

TEST_F(ParserTest, FirstHostWins) {
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(msg_.authority, "one");
  EXPECT_EQ(msg_.headers.size(), 2u);
}

TEST_F(ParserTest, OwsTrimming) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"X: v", "v"},
      {"X:v", "v"},
      {"X: \t v \t ", "v"},
      {"X:\tv\t", "v"},
      {"X: a  b\tc ", "a  b\tc"},
      {"X:", ""},
      {"X: \t ", ""},
      {"X: \xff\x80", "\xff\x80"},
  };
  for (const auto& [line, value] : cases) {
    ASSERT_EQ(ParseHeader(line), ParseError::kOk) << line;
    ASSERT_EQ(msg_.headers.size(), 1u);
    EXPECT_EQ(msg_.headers[0].name, "X");
    EXPECT_EQ(Header(0), value) << line;
  }
}

TEST_F(ParserTest, ManyHeadersKeepOrder) {
  std::string block = "POST /upload HTTP/1.1\r\n";
  for (int i = 0; i < 300; ++i)
    block += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  block += "\r\n";
  ASSERT_EQ(Parse(block), ParseError::kOk);
  ASSERT_EQ(msg_.headers.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(msg_.headers[i].name, "X-" + std::to_string(i));
    EXPECT_EQ(Header(i), std::to_string(i));
  }
}

TEST_F(ParserTest, ScratchIsReused) {
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), ParseError::kOk);
  const HeaderField* data = scratch_.data();
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nD: 4\r\n\r\n"), ParseError::kOk);
  EXPECT_EQ(scratch_.data(), data);
  ASSERT_EQ(msg_.headers.size(), 1u);
  EXPECT_EQ(msg_.headers[0].name, "D");
}

TEST_F(ParserTest, HeaderErrors) {
  const std::vector<std::pair<std::string, ParseError>> cases = {
      {"X: a\r\n  folded", ParseError::kObsFold},
      {"X: a\r\n\tfolded", ParseError::kObsFold},
      {" X: a", ParseError::kObsFold},  // whitespace between start line and first field
      {"NoColon", ParseError::kBadHeaderLine},
      {"\x01\x02", ParseError::kBadHeaderLine},
      {"X : a", ParseError::kBadHeaderName},
      {"X\t: a", ParseError::kBadHeaderName},
      {": a", ParseError::kBadHeaderName},
      {"X(y): a", ParseError::kBadHeaderName},
      {"X\x7f: a", ParseError::kBadHeaderName},
      {"\xc3\xa9: a", ParseError::kBadHeaderName},
      {"X y: a", ParseError::kBadHeaderName},
      {"X: a\0b"s, ParseError::kBadHeaderValue},
      {"X: a\rb", ParseError::kBadHeaderValue},
      {"X: a\x7f", ParseError::kBadHeaderValue},
      {"X: \x1b[31m", ParseError::kBadHeaderValue},
  };
  for (const auto& [line, want] : cases) {
    EXPECT_EQ(ParseHeader(line), want) << testing::PrintToString(line);
  }
}

TEST_F(ParserTest, BareLfIsRejected) {
  EXPECT_EQ(Parse("GET / HTTP/1.1\nHost: a\r\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\n\r\n"), ParseError::kBareLf);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\r\n\n"), ParseError::kBareLf);
  EXPECT_EQ(Parse("\n"), ParseError::kBareLf);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nA: b\nC", ParseError::kTruncated), ParseError::kBareLf);
}

TEST_F(ParserTest, IncompleteBlockIgnoresPartialLine) {
  ASSERT_EQ(Parse("GET /a?s HTTP/1.1\r\nHost: a\r\nX-Partial: va", ParseError::kTruncated),
            ParseError::kOk);
  EXPECT_FALSE(msg_.complete);
  EXPECT_EQ(msg_.incomplete_reason, ParseError::kTruncated);
  EXPECT_EQ(msg_.path, "/a");
  EXPECT_EQ(msg_.authority, "a");
  ASSERT_EQ(msg_.headers.size(), 1u);

  // A partial line is ignored even when it would be invalid once complete.
  for (const char* tail : {"", "\r", "\r\n\r", "Bad Name", " fold", "\x01\x02"}) {
    ASSERT_EQ(Parse("HTTP/1.1 200 OK\r\nA: b\r\n"s + tail, ParseError::kLost), ParseError::kOk)
        << tail;
    EXPECT_EQ(msg_.incomplete_reason, ParseError::kLost);
    EXPECT_EQ(msg_.headers.size(), 1u);
  }
  // Fully read lines are still validated.
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nBad Name: x\r\nA", ParseError::kClosed),
            ParseError::kBadHeaderName);
  EXPECT_EQ(Parse("GET / HTTP/9.9\r\n", ParseError::kClosed), ParseError::kBadVersion);
}

TEST_F(ParserTest, IncompleteStartLineYieldsTheReason) {
  EXPECT_EQ(Parse("GET /a HT", ParseError::kTruncated), ParseError::kTruncated);
  EXPECT_EQ(Parse("GET /a HTTP/1.1\r", ParseError::kAbandoned), ParseError::kAbandoned);
  EXPECT_EQ(Parse("", ParseError::kTooLarge), ParseError::kTooLarge);
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\n", ParseError::kClosed), ParseError::kOk);
  EXPECT_TRUE(msg_.headers.empty());
  EXPECT_EQ(msg_.incomplete_reason, ParseError::kClosed);
}

TEST_F(ParserTest, CompleteBlockWithoutTerminatorCountsAsTruncated) {
  EXPECT_EQ(Parse("GET /a HTTP/1.1"), ParseError::kTruncated);
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nA: b\r\n"), ParseError::kOk);
  EXPECT_FALSE(msg_.complete);
  EXPECT_EQ(msg_.incomplete_reason, ParseError::kTruncated);
}

TEST_F(ParserTest, BytesAfterTheEmptyLineAreIgnored) {
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nA: b\r\n\r\nbody \x01\n"), ParseError::kOk);
  EXPECT_TRUE(msg_.complete);
  EXPECT_EQ(msg_.headers.size(), 1u);
}

TEST_F(ParserTest, GarbageNeverCrashesAndViewsStayInside) {
  std::mt19937 rng(12345);
  const std::string alphabet = "GET HTTP/1.0 \r\n:\t?#@/*PRI2\x00\x7f\xff"s;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string block(rng() % 64, '\0');
    for (char& c : block) {
      c = (rng() % 4 == 0) ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    }
    if (iter % 2 == 0) block = (iter % 4 == 0 ? "GET " : "HTTP/1.1 ") + block;
    ParseError reason = (iter % 3 == 0) ? ParseError::kTruncated : ParseError::kOk;
    if (Parse(block, reason) != ParseError::kOk) continue;
    const char* begin = block_.data();
    const char* end = begin + block_.size();
    auto inside = [&](std::string_view v) {
      return v.empty() || v == "/" || (v.data() >= begin && v.data() + v.size() <= end);
    };
    EXPECT_TRUE(inside(msg_.method) && inside(msg_.path) && inside(msg_.authority));
    for (const HeaderField& f : msg_.headers) EXPECT_TRUE(inside(f.name) && inside(f.value));
    EXPECT_EQ(msg_.path.find('?'), std::string_view::npos);
  }
}

TEST(ParseErrorLabelTest, LabelsAreDistinctAndStable) {
  std::set<std::string_view> labels;
  for (std::size_t i = 0; i < kParseErrorCount; ++i) {
    std::string_view label = ParseErrorLabel(static_cast<ParseError>(i));
    EXPECT_NE(label, "invalid");
    EXPECT_TRUE(labels.insert(label).second) << label;
  }
  EXPECT_EQ(ParseErrorLabel(ParseError::kBadStartLine), "bad_start_line");
  EXPECT_EQ(ParseErrorLabel(ParseError::kObsFold), "obs_fold");
  EXPECT_EQ(ParseErrorLabel(ParseError::kUnsynced), "unsynced");
  EXPECT_EQ(ParseErrorLabel(ParseError::kTooLarge), "too_large");
  EXPECT_EQ(ParseErrorLabel(ParseError::kCount), "invalid");
}

}  // namespace
}  // namespace tracegap::http1
