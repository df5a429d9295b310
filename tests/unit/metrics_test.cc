// The metrics layer's defences against what watched processes write into their own names:
// label values are made printable UTF-8, and the number of (comm, unit) identities with series of
// their own is capped (the rest are counted under "_other").

#include "metrics.h"

#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>
#include <algorithm>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tracegap {
namespace {

// Process labels as on a host without containers: the workload is the unit, else the comm.
ProcessLabels Who(std::string_view comm, std::string_view unit) {
  return ProcessLabels{comm, unit, unit.empty() ? comm : unit, "", ""};
}

Metrics MakeMetrics(size_t max_identities) {
  static constexpr std::string_view kNone[] = {"x"};
  return Metrics("test", "tracepoint", kNone, kNone, kNone, max_identities);
}

// comm label value -> summed tracegap_requests_total.
std::map<std::string, double> RequestsByComm(const Metrics& m) {
  std::map<std::string, double> out;
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != "tracegap_requests_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "comm") out[label.value] += metric.counter.value;
      }
    }
  }
  return out;
}

TEST(MetricsLabels, LabelValueKeepsPrintableUtf8AndReplacesTheRest) {
  EXPECT_EQ(Metrics::LabelValue("nginx"), "nginx");
  EXPECT_EQ(Metrics::LabelValue("caf\xc3\xa9"), "caf\xc3\xa9");  // é
  EXPECT_EQ(Metrics::LabelValue("\xe2\x82\xac"
                                "1"),
            "\xe2\x82\xac"
            "1");  // €
  EXPECT_EQ(Metrics::LabelValue("a\nb\tc\x7f"), "a?b?c?");
  EXPECT_EQ(Metrics::LabelValue("\xff\xfe"), "??");
  EXPECT_EQ(Metrics::LabelValue("x\xc3"), "x?");               // truncated sequence
  EXPECT_EQ(Metrics::LabelValue("\xc0\xaf"), "??");            // overlong '/'
  EXPECT_EQ(Metrics::LabelValue("\xed\xa0\x80"), "???");       // UTF-16 surrogate
  EXPECT_EQ(Metrics::LabelValue("\xf4\x90\x80\x80"), "????");  // above U+10FFFF
  EXPECT_EQ(Metrics::LabelValue(std::string_view("a\0b", 3)), "a?b");
}

TEST(MetricsLabels, InvalidCommIsExportedSanitised) {
  Metrics m = MakeMetrics(10);
  m.CountRequest("inbound", "http1", "valid", Who("bad\xff\x01", ""));
  m.CountRequest("inbound", "http1", "valid", Who("bad\xff\x01", ""));
  const auto by = RequestsByComm(m);
  ASSERT_EQ(by.count("bad??"), 1u);
  EXPECT_EQ(by.at("bad??"), 2);
  const std::string text = prometheus::TextSerializer().Serialize(m.registry()->Collect());
  EXPECT_EQ(text.find('\xff'), std::string::npos);
}

TEST(MetricsLabels, IdentitiesBeyondTheCapAreCountedAsOther) {
  Metrics m = MakeMetrics(2);
  for (const char* comm : {"a", "b", "c", "d", "a", "c"}) {
    m.CountRequest("inbound", "http1", "valid", Who(comm, "u.service"));
    m.CountOutbound("dropped", "http1", Who(comm, "u.service"));
  }
  EXPECT_EQ(m.identities(), 2u);
  const auto by = RequestsByComm(m);
  EXPECT_EQ(by, (std::map<std::string, double>{{"a", 2}, {"b", 1}, {"_other", 3}}));
  // The same pair under another label set (another verdict) is still its own identity.
  m.CountRequest("inbound", "http1", "missing", Who("b", "u.service"));
  EXPECT_EQ(RequestsByComm(m).at("b"), 2);
  // The same comm in another unit is another identity: over the cap.
  m.CountRequest("inbound", "http1", "valid", Who("a", "other.service"));
  EXPECT_EQ(RequestsByComm(m).at("_other"), 4);
}

// A comm may hold any byte, separators included: two label sets never share a counter.
TEST(MetricsLabels, NoCommOrUnitCanAliasAnother) {
  Metrics m = MakeMetrics(10);
  m.CountRequest("inbound", "http1", "valid", Who("a\x1f", "b"));
  m.CountRequest("inbound", "http1", "valid",
                 Who("a",
                     "\x1f"
                     "b"));
  m.CountRequest("inbound", "http1", "valid",
                 Who("a",
                     "\x1f"
                     "b"));
  EXPECT_EQ(m.identities(), 2u);
  const auto by = RequestsByComm(m);
  EXPECT_EQ(by.at("a?"), 1);
  EXPECT_EQ(by.at("a"), 2);
}

// label name -> value of each series of `family`, in collection order.
std::vector<std::map<std::string, std::string>> Series(const Metrics& m, std::string_view family) {
  std::vector<std::map<std::string, std::string>> out;
  for (const auto& f : m.registry()->Collect()) {
    if (f.name != family) continue;
    for (const auto& metric : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      labels["="] = std::to_string(static_cast<int64_t>(metric.counter.value));
      out.push_back(std::move(labels));
    }
  }
  return out;
}

// The value of the one series of `family` whose labels include name=value (any series if name is
// empty); -1 when there is none.
double Value(const Metrics& m, std::string_view family, std::string_view name = "",
             std::string_view value = "") {
  for (const auto& f : m.registry()->Collect()) {
    if (f.name != family) continue;
    for (const auto& metric : f.metric) {
      const bool match =
          name.empty() || std::any_of(metric.label.begin(), metric.label.end(), [&](const auto& l) {
            return l.name == name && l.value == value;
          });
      if (match) return metric.counter.value + metric.gauge.value;
    }
  }
  return -1;
}

TEST(MetricsLabels, WorkloadLabelsAreOnEveryPerProcessFamily) {
  Metrics m = MakeMetrics(10);
  const ProcessLabels pod{"python3", "cri-containerd-0123456789ab.scope",
                          "shop/checkout-7d9f-x2k4q", "app", "shop"};
  m.CountRequest("inbound", "http1", "valid", pod);
  m.CountOutbound("dropped", "http1", pod);
  m.CountMalformed("inbound", "traceparent", "version", pod);
  m.CountLegacy("inbound", "b3", pod);
  for (std::string_view family : {"tracegap_requests_total", "tracegap_outbound_total",
                                  "tracegap_malformed_total", "tracegap_legacy_headers_total"}) {
    const auto series = Series(m, family);
    ASSERT_EQ(series.size(), 1u) << family;
    EXPECT_EQ(series[0].at("workload"), "shop/checkout-7d9f-x2k4q") << family;
    EXPECT_EQ(series[0].at("container"), "app") << family;
    EXPECT_EQ(series[0].at("namespace"), "shop") << family;
    EXPECT_EQ(series[0].at("comm"), "python3") << family;
  }
}

TEST(MetricsLabels, OverTheCapEveryProcessLabelIsOther) {
  Metrics m = MakeMetrics(1);
  m.CountRequest("inbound", "http1", "valid", ProcessLabels{"a", "", "ns/a", "c", "ns"});
  m.CountRequest("inbound", "http1", "valid", ProcessLabels{"b", "", "ns/b", "c", "ns"});
  const auto series = Series(m, "tracegap_requests_total");
  ASSERT_EQ(series.size(), 2u);
  const auto& other = series[0].at("comm") == "_other" ? series[0] : series[1];
  for (const char* label : {"comm", "unit", "workload", "container", "namespace"})
    EXPECT_EQ(other.at(label), "_other") << label;
}

TEST(MetricsEdges, EdgeClientIsTheWorkloadWhileUnderTheCap) {
  Metrics m = MakeMetrics(1);
  const ProcessLabels first{"a", "", "ns/a", "", "ns"};
  const ProcessLabels second{"b", "", "ns/b", "", "ns"};
  EXPECT_EQ(m.EdgeClient(first), "ns/a");
  EXPECT_EQ(m.EdgeClient(second), Metrics::kOther);
  EXPECT_EQ(m.EdgeClient(first), "ns/a");
  EXPECT_EQ(m.identities(), 1u);
}

TEST(MetricsEdges, EdgeSeriesCountPerClientServerProtocolOutcome) {
  Metrics m = MakeMetrics(10);
  m.CountEdge("shop/checkout", "payments:8080", "http1", "dropped");
  m.CountEdge("shop/checkout", "payments:8080", "http1", "dropped");
  m.CountEdge("shop/checkout", "payments:8080", "http1", "propagated");
  m.CountEdge("bad\xff", "x", "grpc", "origin");
  const auto series = Series(m, "tracegap_edge_requests_total");
  std::map<std::string, std::string> counts;
  for (const auto& s : series)
    counts[s.at("client") + " " + s.at("server") + " " + s.at("protocol") + " " + s.at("outcome")] =
        s.at("=");
  EXPECT_EQ(counts, (std::map<std::string, std::string>{
                        {"shop/checkout payments:8080 http1 dropped", "2"},
                        {"shop/checkout payments:8080 http1 propagated", "1"},
                        {"bad? x grpc origin", "1"}}));
}

TEST(MetricsEdges, EdgeGaugesAndFoldedCounterFollowTheTable) {
  Metrics m = MakeMetrics(10);
  m.SetEdges(3, 2000, 0);
  m.SetEdges(2000, 2000, 5);
  m.SetEdges(2000, 2000, 7);
  EXPECT_EQ(Value(m, "tracegap_edges", "state", "tracked"), 2000);
  EXPECT_EQ(Value(m, "tracegap_edges", "state", "limit"), 2000);
  EXPECT_EQ(Value(m, "tracegap_edge_requests_folded_total"), 7);
}

TEST(MetricsReclaim, AnIdleIdentityGivesItsPlaceAndItsSeries) {
  Metrics m = MakeMetrics(2);
  m.SetReclaimAfter(1000);
  m.Tick(0);
  m.CountRequest("inbound", "http1", "valid", Who("a", ""));
  m.CountOutbound("dropped", "http1", Who("a", ""));
  m.Tick(500);
  m.CountRequest("inbound", "http1", "valid", Who("b", ""));
  // Full, nobody idle for a second: "c" is counted under _other.
  m.Tick(900);
  m.CountRequest("inbound", "http1", "valid", Who("c", ""));
  EXPECT_EQ(RequestsByComm(m), (std::map<std::string, double>{{"a", 1}, {"b", 1}, {"_other", 1}}));
  // At 1100 "a" (last counted at 0) has been idle long enough: "d" takes its place, and every
  // series of "a" leaves the exposition.
  m.Tick(1100);
  m.CountRequest("inbound", "http1", "valid", Who("d", ""));
  EXPECT_EQ(RequestsByComm(m), (std::map<std::string, double>{{"b", 1}, {"d", 1}, {"_other", 1}}));
  EXPECT_TRUE(Series(m, "tracegap_outbound_total").empty());
  EXPECT_EQ(m.identities(), 2u);
  // "b" counted at 500 and at 1400 stays; "a" coming back is new and over the bound ("d" was
  // used at 1100).
  m.Tick(1400);
  m.CountRequest("inbound", "http1", "valid", Who("b", ""));
  m.CountRequest("inbound", "http1", "valid", Who("a", ""));
  EXPECT_EQ(RequestsByComm(m), (std::map<std::string, double>{{"b", 2}, {"d", 1}, {"_other", 2}}));
  EXPECT_EQ(Value(m, "tracegap_label_sets_reclaimed_total", "kind", "process"), 1);
  EXPECT_EQ(Value(m, "tracegap_label_sets_reclaimed_total", "kind", "edge"), 0);
}

// Two identities whose names differ only in bytes LabelValue replaces share their series: when
// one is reclaimed the other's series stay, and keep counting.
TEST(MetricsReclaim, ASharedSeriesStaysWhileAnotherIdentityHoldsIt) {
  Metrics m = MakeMetrics(2);
  m.SetReclaimAfter(1000);
  m.Tick(0);
  m.CountRequest("inbound", "http1", "valid", Who("x\x01", ""));
  m.Tick(2000);
  m.CountRequest("inbound", "http1", "valid", Who("x\x02", ""));
  m.CountRequest("inbound", "http1", "valid", Who("new", ""));  // reclaims "x\x01"
  m.CountRequest("inbound", "http1", "valid", Who("x\x02", ""));
  EXPECT_EQ(RequestsByComm(m), (std::map<std::string, double>{{"x?", 3}, {"new", 1}}));
}

TEST(MetricsReclaim, RemoveEdgeTakesOutEveryOutcomeAndProtocolOfThePair) {
  Metrics m = MakeMetrics(10);
  m.CountEdge("a", "s1", "http1", "dropped");
  m.CountEdge("a", "s1", "grpc", "propagated");
  m.CountEdge("a", "s2", "http1", "dropped");
  m.CountEdge("a", "_other", "http1", "dropped");
  m.RemoveEdge("a", "s1");
  std::vector<std::string> left;
  for (const auto& s : Series(m, "tracegap_edge_requests_total")) left.push_back(s.at("server"));
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"_other", "s2"}));
  // Counted again, the pair starts over.
  m.CountEdge("a", "s1", "http1", "dropped");
  EXPECT_EQ(Series(m, "tracegap_edge_requests_total").size(), 3u);
}

}  // namespace
}  // namespace tracegap
