// Edges: how the server of an outbound request is named (EdgeServer), and the bounded table of
// per-edge outcomes (EdgeTable) with its worst-first order.

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include "correlate/edge.h"
#include "correlate/edge_table.h"

namespace tracegap {
namespace {

constexpr std::string_view kPeer = "10.1.2.3:8080";

TEST(EdgeServer, HostIsLowerCasedWithoutTheDefaultPort) {
  EXPECT_EQ(EdgeServer("Payments.Shop.svc.cluster.local", false, kPeer),
            "payments.shop.svc.cluster.local");
  EXPECT_EQ(EdgeServer("api.example.com:80", false, kPeer), "api.example.com");
  EXPECT_EQ(EdgeServer("api.example.com:443", true, kPeer), "api.example.com");
  // The other scheme's default port is a port like any other.
  EXPECT_EQ(EdgeServer("api.example.com:443", false, kPeer), "api.example.com:443");
  EXPECT_EQ(EdgeServer("api.example.com:80", true, kPeer), "api.example.com:80");
  EXPECT_EQ(EdgeServer("backend:50051", false, kPeer), "backend:50051");
  EXPECT_EQ(EdgeServer("127.0.0.1:8080", false, kPeer), "127.0.0.1:8080");
}

TEST(EdgeServer, Ipv6LiteralsKeepTheirBrackets) {
  EXPECT_EQ(EdgeServer("[::1]:8080", false, kPeer), "[::1]:8080");
  EXPECT_EQ(EdgeServer("[FE80::1]:80", false, kPeer), "[fe80::1]");
  EXPECT_EQ(EdgeServer("[::1]", true, kPeer), "[::1]");
}

TEST(EdgeServer, WhitespaceUserinfoTrailingDotAndEmptyPortAreNotPartOfTheName) {
  EXPECT_EQ(EdgeServer("  api.example.com\t", false, kPeer), "api.example.com");
  EXPECT_EQ(EdgeServer("user:secret@api.example.com", false, kPeer), "api.example.com");
  EXPECT_EQ(EdgeServer("api.example.com.", false, kPeer), "api.example.com");
  EXPECT_EQ(EdgeServer("api.example.com.:8443", false, kPeer), "api.example.com:8443");
  EXPECT_EQ(EdgeServer("api.example.com:", false, kPeer), "api.example.com");
}

TEST(EdgeServer, NoAuthorityOrOneNoHostHasMeansThePeer) {
  EXPECT_EQ(EdgeServer("", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("   ", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("bad host", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("evil\r\nx", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("caf\xc3\xa9.example", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("host:99999x", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("host:123456", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("[::1", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("[zz::1]:80", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("[::1]x", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer(":80", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer(std::string(300, 'a'), false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("", false, ""), kUnknownServer);
  // The daemon's own names cannot be claimed by a request.
  EXPECT_EQ(EdgeServer("_other", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("_unknown:8080", false, kPeer), kPeer);
}

TEST(EdgeServer, PortsAreNumbersFrom1To65535) {
  EXPECT_EQ(EdgeServer("api:0080", false, kPeer), "api");
  EXPECT_EQ(EdgeServer("api:08080", false, kPeer), "api:8080");
  EXPECT_EQ(EdgeServer("api:65535", false, kPeer), "api:65535");
  EXPECT_EQ(EdgeServer("api:65536", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("api:99999", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("api:0", false, kPeer), kPeer);
  EXPECT_EQ(EdgeServer("my_service:8080", false, kPeer), "my_service:8080");
}

TEST(EdgeServer, PeerAddressFormatsBothFamilies) {
  tg_tuple v4{};
  v4.family = 2;
  v4.remote_addr[0] = 127;
  v4.remote_addr[3] = 1;
  v4.remote_port = 8080;
  EXPECT_EQ(PeerAddress(&v4), "127.0.0.1:8080");
  tg_tuple v6{};
  v6.family = 10;
  v6.remote_addr[15] = 1;
  v6.remote_port = 443;
  EXPECT_EQ(PeerAddress(&v6), "[::1]:443");
  EXPECT_EQ(PeerAddress(nullptr), "");
}

GapExample Gap(std::string path) {
  GapExample g;
  g.outcome = Outcome::kDropped;
  g.path = std::move(path);
  return g;
}

TEST(EdgeTable, CountsPerClientServerAndProtocolWithTheNewestGap) {
  EdgeTable t(10);
  const GapExample first = Gap("/a"), second = Gap("/b");
  t.Count("shop/checkout", "payments", Protocol::kHttp1, Outcome::kPropagated, 1000, nullptr);
  t.Count("shop/checkout", "payments", Protocol::kHttp1, Outcome::kDropped, 2000, &first);
  t.Count("shop/checkout", "payments", Protocol::kHttp1, Outcome::kDropped, 3000, &second);
  t.Count("shop/checkout", "payments", Protocol::kGrpc, Outcome::kPropagated, 3000, nullptr);
  std::vector<EdgeSnapshot> rows = t.List();
  SortWorstFirst(rows);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].protocol, Protocol::kHttp1);
  EXPECT_EQ(rows[0].total(), 3u);
  EXPECT_EQ(rows[0].gaps(), 2u);
  EXPECT_DOUBLE_EQ(rows[0].gap_ratio(), 2.0 / 3.0);
  EXPECT_EQ(rows[0].first_seen_unix_ms, 1000);
  EXPECT_EQ(rows[0].last_seen_unix_ms, 3000);
  ASSERT_TRUE(rows[0].last_gap.has_value());
  EXPECT_EQ(rows[0].last_gap->path, "/b");
  EXPECT_FALSE(rows[1].last_gap.has_value());
  // Another protocol on a known pair takes no room.
  EXPECT_EQ(t.totals().pairs, 1u);
}

TEST(EdgeTable, PastTheLimitNewPairsAreCountedUnderOther) {
  EdgeTable t(2);
  EXPECT_EQ(t.Count("a", "s1", Protocol::kHttp1, Outcome::kOrigin, 1, nullptr).server, "s1");
  EXPECT_EQ(t.Count("a", "s2", Protocol::kHttp1, Outcome::kOrigin, 1, nullptr).server, "s2");
  EXPECT_EQ(t.Count("a", "s3", Protocol::kHttp1, Outcome::kDropped, 1, nullptr).server,
            EdgeTable::kOther);
  EXPECT_EQ(t.Count("b", "s1", Protocol::kHttp1, Outcome::kOrigin, 1, nullptr).server,
            EdgeTable::kOther);
  EXPECT_EQ(t.Count("a", "s3", Protocol::kHttp1, Outcome::kDropped, 1, nullptr).server,
            EdgeTable::kOther);
  // Known pairs keep counting under their own names.
  EXPECT_EQ(t.Count("a", "s1", Protocol::kHttp2, Outcome::kOrigin, 1, nullptr).server, "s1");
  const EdgeTable::Totals totals = t.totals();
  EXPECT_EQ(totals.pairs, 2u);
  EXPECT_EQ(totals.max_pairs, 2u);
  EXPECT_EQ(totals.folded, 3u);
  uint64_t other_a = 0, other_b = 0;
  for (const EdgeSnapshot& e : t.List()) {
    if (e.server != EdgeTable::kOther) continue;
    (e.client == "a" ? other_a : other_b) += e.total();
  }
  EXPECT_EQ(other_a, 2u);
  EXPECT_EQ(other_b, 1u);
}

TEST(EdgeTable, ClientAndServerCannotAliasThroughTheirBytes) {
  EdgeTable t(10);
  t.Count(std::string_view("a\0b", 3), "c", Protocol::kHttp1, Outcome::kOrigin, 1, nullptr);
  t.Count("a", std::string_view("b\0c", 3), Protocol::kHttp1, Outcome::kOrigin, 1, nullptr);
  EXPECT_EQ(t.List().size(), 2u);
  EXPECT_EQ(t.totals().pairs, 2u);
}

TEST(EdgeTable, WorstFirstIsRatioThenGapsThenContextThenNames) {
  EdgeTable t(10);
  auto count = [&t](const char* client, Outcome o, int n) {
    for (int i = 0; i < n; ++i) t.Count(client, "s", Protocol::kHttp1, o, 1, nullptr);
  };
  count("half-of-4", Outcome::kDropped, 2);
  count("half-of-4", Outcome::kPropagated, 2);
  count("half-of-2", Outcome::kDropped, 1);
  count("half-of-2", Outcome::kPropagated, 1);
  count("all", Outcome::kRestarted, 1);
  count("none-10", Outcome::kPropagated, 10);
  count("none-1", Outcome::kPassthrough, 1);
  count("origin", Outcome::kOrigin, 50);
  std::vector<EdgeSnapshot> rows = t.List();
  SortWorstFirst(rows);
  std::vector<std::string> order;
  for (const auto& r : rows) order.push_back(r.client);
  EXPECT_EQ(order, (std::vector<std::string>{"all", "half-of-4", "half-of-2", "none-10", "none-1",
                                             "origin"}));
}

TEST(EdgeTable, AFullTableGivesTheIdlestPairsPlaceToANewOne) {
  EdgeTable t(2, /*reclaim_after_ms=*/1000);
  const GapExample gap = Gap("/x");
  t.Count("a", "old", Protocol::kHttp1, Outcome::kDropped, 0, &gap);
  t.Count("a", "old", Protocol::kGrpc, Outcome::kOrigin, 100, nullptr);
  t.Count("a", "busy", Protocol::kHttp1, Outcome::kOrigin, 500, nullptr);
  // Nothing idle for a second yet: the new pair is folded.
  EdgeTable::Counted c = t.Count("a", "new", Protocol::kHttp1, Outcome::kOrigin, 900, nullptr);
  EXPECT_EQ(c.server, EdgeTable::kOther);
  EXPECT_FALSE(c.evicted.has_value());
  t.Count("a", "busy", Protocol::kHttp1, Outcome::kOrigin, 1200, nullptr);
  // "old" was last seen at 100: at 1100 it has been idle a second and gives its place, with
  // both its protocols' rows.
  c = t.Count("a", "new", Protocol::kHttp1, Outcome::kOrigin, 1300, nullptr);
  EXPECT_EQ(c.server, "new");
  ASSERT_TRUE(c.evicted.has_value());
  EXPECT_EQ(*c.evicted, (std::pair<std::string, std::string>{"a", "old"}));
  std::vector<std::string> servers;
  for (const EdgeSnapshot& e : t.List()) servers.push_back(e.server);
  std::sort(servers.begin(), servers.end());
  EXPECT_EQ(servers, (std::vector<std::string>{"_other", "busy", "new"}));
  const EdgeTable::Totals totals = t.totals();
  EXPECT_EQ(totals.pairs, 2u);
  EXPECT_EQ(totals.evicted, 1u);
  EXPECT_EQ(totals.folded, 1u);
  // "busy" (seen at 1200) is not idle at 1500: the next new pair is folded.
  c = t.Count("b", "other", Protocol::kHttp1, Outcome::kOrigin, 1500, nullptr);
  EXPECT_EQ(c.server, EdgeTable::kOther);
  EXPECT_FALSE(c.evicted.has_value());
}

TEST(EdgeTable, WithoutReclaimTimeAFullTableFoldsForever) {
  EdgeTable t(1, 0);
  t.Count("a", "s1", Protocol::kHttp1, Outcome::kOrigin, 0, nullptr);
  EXPECT_EQ(t.Count("a", "s2", Protocol::kHttp1, Outcome::kOrigin, 1'000'000'000, nullptr).server,
            EdgeTable::kOther);
}

}  // namespace
}  // namespace tracegap
