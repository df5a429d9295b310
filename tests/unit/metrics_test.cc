// The metrics layer's defences against what watched processes write into their own names:
// label values are made printable UTF-8, and the number of (comm, unit) identities with series of
// their own is capped (the rest are counted under "_other").

#include "metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tracegap {
namespace {

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
  m.CountRequest("inbound", "http1", "valid", "bad\xff\x01", "");
  m.CountRequest("inbound", "http1", "valid", "bad\xff\x01", "");
  const auto by = RequestsByComm(m);
  ASSERT_EQ(by.count("bad??"), 1u);
  EXPECT_EQ(by.at("bad??"), 2);
  const std::string text = prometheus::TextSerializer().Serialize(m.registry()->Collect());
  EXPECT_EQ(text.find('\xff'), std::string::npos);
}

TEST(MetricsLabels, IdentitiesBeyondTheCapAreCountedAsOther) {
  Metrics m = MakeMetrics(2);
  for (const char* comm : {"a", "b", "c", "d", "a", "c"}) {
    m.CountRequest("inbound", "http1", "valid", comm, "u.service");
    m.CountOutbound("dropped", "http1", comm, "u.service");
  }
  EXPECT_EQ(m.identities(), 2u);
  const auto by = RequestsByComm(m);
  EXPECT_EQ(by, (std::map<std::string, double>{{"a", 2}, {"b", 1}, {"_other", 3}}));
  // The same pair under another label set (another verdict) is still its own identity.
  m.CountRequest("inbound", "http1", "missing", "b", "u.service");
  EXPECT_EQ(RequestsByComm(m).at("b"), 2);
  // The same comm in another unit is another identity: over the cap.
  m.CountRequest("inbound", "http1", "valid", "a", "other.service");
  EXPECT_EQ(RequestsByComm(m).at("_other"), 4);
}

// A comm may hold any byte, separators included: two label sets never share a counter.
TEST(MetricsLabels, NoCommOrUnitCanAliasAnother) {
  Metrics m = MakeMetrics(10);
  m.CountRequest("inbound", "http1", "valid", "a\x1f", "b");
  m.CountRequest("inbound", "http1", "valid", "a",
                 "\x1f"
                 "b");
  m.CountRequest("inbound", "http1", "valid", "a",
                 "\x1f"
                 "b");
  EXPECT_EQ(m.identities(), 2u);
  const auto by = RequestsByComm(m);
  EXPECT_EQ(by.at("a?"), 1);
  EXPECT_EQ(by.at("a"), 2);
}

}  // namespace
}  // namespace tracegap
