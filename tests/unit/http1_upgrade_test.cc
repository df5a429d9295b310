// When HTTP/1 ends on a connection, and what it became (protocols/http1/upgrade.h).
#include "protocols/http1/upgrade.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http1/parser.h"

namespace tracegap::http1 {
namespace {

// Parses one complete header block (the tests' inputs are valid).
class Parsed {
 public:
  explicit Parsed(std::string block) : block_(std::move(block)) {
    EXPECT_EQ(ParseHeaderBlock(block_, ParseError::kOk, message_, scratch_), ParseError::kOk)
        << block_;
    message_.complete = true;
  }
  const Message& operator*() const { return message_; }

 private:
  std::string block_;
  Message message_;
  std::vector<HeaderField> scratch_;
};

std::optional<Upgrade> Exchange(UpgradeWatch& w, const std::string& request,
                                const std::string& response) {
  EXPECT_EQ(w.OnMessage(*Parsed(request)), std::nullopt);
  return w.OnMessage(*Parsed(response));
}

const std::string kSwitch = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n";

TEST(UpgradeWatch, H2cOnlyWhenAskedAndGranted) {
  UpgradeWatch w;
  EXPECT_EQ(Exchange(w,
                     "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
                     kSwitch + "Upgrade: h2c\r\n\r\n"),
            Upgrade::kH2c);
  // Asked for h2c, granted something else; granted h2c without being asked.
  UpgradeWatch other;
  EXPECT_EQ(Exchange(other, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n",
                     kSwitch + "Upgrade: websocket\r\n\r\n"),
            Upgrade::kOther);
  UpgradeWatch unasked;
  EXPECT_EQ(
      Exchange(unasked, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", kSwitch + "Upgrade: h2c\r\n\r\n"),
      Upgrade::kOther);
}

TEST(UpgradeWatch, WebsocketAnyCaseAndInAList) {
  UpgradeWatch w;
  EXPECT_EQ(Exchange(w, "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: foo/2, WebSocket\r\n\r\n",
                     kSwitch + "Upgrade: websocket\r\n\r\n"),
            Upgrade::kWebsocket);
}

TEST(UpgradeWatch, TlsOrCustomUpgradeIsOther) {
  UpgradeWatch w;
  EXPECT_EQ(Exchange(w, "OPTIONS * HTTP/1.1\r\nHost: a\r\nUpgrade: TLS/1.2\r\n\r\n",
                     kSwitch + "Upgrade: TLS/1.2, HTTP/1.1\r\n\r\n"),
            Upgrade::kOther);
}

TEST(UpgradeWatch, ConnectTwoHundredIsATunnelOtherAnswersAreNot) {
  UpgradeWatch w;
  EXPECT_EQ(Exchange(w, "CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n",
                     "HTTP/1.1 200 Connection established\r\n\r\n"),
            Upgrade::kTunnel);
  // Refused with 407, then a plain request answered 200: nothing ends.
  UpgradeWatch refused;
  EXPECT_EQ(Exchange(refused, "CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n",
                     "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            std::nullopt);
  EXPECT_EQ(Exchange(refused, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"),
            std::nullopt);
  // An interim 100 keeps the CONNECT pending.
  UpgradeWatch interim;
  EXPECT_EQ(interim.OnMessage(*Parsed("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n")), std::nullopt);
  EXPECT_EQ(interim.OnMessage(*Parsed("HTTP/1.1 100 Continue\r\n\r\n")), std::nullopt);
  EXPECT_EQ(interim.OnMessage(*Parsed("HTTP/1.1 204 No Content\r\n\r\n")), Upgrade::kTunnel);
}

TEST(UpgradeWatch, PlainExchangesEndNothing) {
  UpgradeWatch w;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Exchange(w, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
                       "HTTP/1.1 200 OK\r\n\r\n"),
              std::nullopt);
  }
}

}  // namespace
}  // namespace tracegap::http1
