// Fuzzes the daemon's whole userspace path from the ring buffer on: arbitrary bytes as ring-buffer
// records go to DecodeEvent, and every record goes to a Pipeline (connection tracker, HTTP/1 and
// HTTP/2 decoders, trace-context checks, correlator, metrics, process table) built as main.cc
// builds it, with a ProcessInfoCache reading an empty directory instead of /proc. Records that
// decode also go to a second ConnectionTracker with other limits, whose reports are checked.
// At the end the process table is rendered as the local API would serve it (the JSON must parse)
// and the metrics as a scrape would read them.
//
// Input: one or more records separated by kSeparator. Each record is copied into its own heap
// block, 8-byte aligned and of exactly its size, as the ring buffer hands records over. A record
// whose first byte is kHousekeeping (not a kernel event kind: the pipeline rejects it like any
// other bad record) is also a point where the main loop's housekeeping runs, as main.cc runs it
// between ring-buffer batches: loss handling (OnEventsLost, then CloseUntracked with a live set
// and idle cutoff taken from the marker's bytes), the gauges and ReapProcesses.

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <prometheus/text_serializer.h>
#include <nlohmann/json.hpp>

#include "capture/event_decoder.h"
#include "capture/kernel_drops.h"
#include "correlate/process_info.h"
#include "correlate/process_table.h"
#include "export/api/render.h"
#include "fuzz_support.h"
#include "metrics.h"
#include "pipeline.h"
#include "protocols/amqp/errors.h"
#include "protocols/connection_tracker.h"
#include "protocols/http1/message.h"
#include "protocols/http2/connection.h"
#include "protocols/http2/errors.h"
#include "protocols/kafka/errors.h"
#include "protocols/nats/errors.h"
#include "protocols/observation.h"
#include "protocols/trace_context/trace_context.h"
#include "tracegap.h"

namespace tracegap {
namespace {

constexpr std::string_view kSeparator = "TG\xa5\x5a";
constexpr uint8_t kHousekeeping = 0xff;
constexpr int64_t kWallMs = 1764000000000;  // a fixed wall clock: runs must be repeatable

// An empty directory standing in for /proc: every process looks gone, so no real host state
// leaks into the runs and none is read.
char empty_proc_root[] = "/tmp/tracegap-fuzz-proc-XXXXXX";

void RemoveEmptyProcRoot() { rmdir(empty_proc_root); }

const char* EmptyProcRoot() {
  static const bool made = [] {
    if (mkdtemp(empty_proc_root) == nullptr) std::abort();
    std::atexit(RemoveEmptyProcRoot);
    return true;
  }();
  (void)made;
  return empty_proc_root;
}

// A record in a heap block of exactly its size (operator new aligns to at least 16).
class RecordCopy {
 public:
  explicit RecordCopy(std::string_view bytes)
      : size_(bytes.size()), data_(new uint8_t[bytes.size()]) {
    if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<uint8_t[]> data_;
};

// What DecodeEvent must return for `record`, written from the ABI in bpf/tracegap.h.
void CheckDecode(std::span<const uint8_t> record, const DecodedEvent& ev) {
  FUZZ_CHECK(Label(ev.error) != "event_invalid");
  if (record.size() < sizeof(tg_event_header)) {
    FUZZ_CHECK(ev.error == DecodeError::kTooShort);
    return;
  }
  tg_event_header hdr;
  std::memcpy(&hdr, record.data(), sizeof(hdr));
  if (hdr.kind == TG_EVENT_CLOSE) {
    FUZZ_CHECK(ev.error == DecodeError::kNone && ev.kind == TG_EVENT_CLOSE);
    FUZZ_CHECK(ev.close.conn_id == hdr.conn_id && ev.close.ts_ns == hdr.ts_ns);
    return;
  }
  if (hdr.kind != TG_EVENT_DATA && hdr.kind != TG_EVENT_TLS_UNSEEN) {
    FUZZ_CHECK(ev.error == DecodeError::kUnknownKind);
    return;
  }
  if (record.size() < sizeof(tg_data_event)) {
    FUZZ_CHECK(ev.error == DecodeError::kTooShort);
    return;
  }
  if (hdr.direction > TG_DIR_INGRESS) {
    FUZZ_CHECK(ev.error == DecodeError::kBadDirection);
    return;
  }
  tg_data_event data;
  std::memcpy(&data, record.data(), sizeof(data));
  if (data.data_len > record.size() - sizeof(tg_data_event) || data.data_len > TG_MAX_COPY ||
      (hdr.kind == TG_EVENT_TLS_UNSEEN && data.data_len != 0)) {
    FUZZ_CHECK(ev.error == DecodeError::kBadLength);
    return;
  }
  if (hdr.transport != TG_TRANSPORT_TCP && hdr.transport != TG_TRANSPORT_TLS) {
    FUZZ_CHECK(ev.error == DecodeError::kBadTransport);
    return;
  }
  FUZZ_CHECK(ev.error == DecodeError::kNone && ev.kind == hdr.kind);
  FUZZ_CHECK(ev.data.tls == (hdr.transport == TG_TRANSPORT_TLS));
  const auto* base = reinterpret_cast<const char*>(record.data());
  FUZZ_CHECK(ev.data.data.data() == base + sizeof(tg_data_event));
  FUZZ_CHECK(ev.data.data.size() == data.data_len);
  FUZZ_CHECK(ev.data.flags == hdr.flags && ev.data.syscall_bytes == data.syscall_bytes);
  FUZZ_CHECK(static_cast<uint8_t>(ev.data.direction) == hdr.direction);
  FUZZ_CHECK(ev.data.comm.size() <= TG_COMM_LEN);
  FUZZ_CHECK(ev.data.comm.find('\0') == std::string_view::npos);
  FUZZ_CHECK(ev.data.comm.data() == base + offsetof(tg_event_header, comm));
  fuzz::Touch(ev.data.data);
}

bool KnownParseError(Protocol protocol, std::string_view reason) {
  if (protocol == Protocol::kHttp1) {
    for (std::size_t i = 1; i < http1::kParseErrorCount; ++i) {
      if (reason == http1::ParseErrorLabel(static_cast<http1::ParseError>(i))) return true;
    }
    return false;
  }
  // The message queues' decoders: each its own labels.
  const auto known = [reason](const auto& labels) {
    for (std::string_view label : labels) {
      if (reason == label) return true;
    }
    return false;
  };
  if (protocol == Protocol::kAmqp) return known(amqp::kErrorLabels);
  if (protocol == Protocol::kKafka) return known(kafka::kErrorLabels);
  if (protocol == Protocol::kNats) return known(nats::kErrorLabels);
  for (std::string_view label : http2::kErrorLabels) {
    if (reason == label) return true;
  }
  return false;
}

// Checks what the tracker reports: readable views, no query in a path, and a traceparent that
// agrees with the verdict.
class CheckingObserver final : public Observer {
 public:
  void OnRequest(const RequestSeen& r) override {
    for (std::string_view v : {r.method, r.path, r.authority, r.traceparent, r.actor.comm}) {
      fuzz::Touch(v);
    }
    FUZZ_CHECK(r.path.find_first_of("?#") == std::string_view::npos);
    FUZZ_CHECK(r.actor.comm.size() <= TG_COMM_LEN);
    FUZZ_CHECK(r.protocol != Protocol::kHttp1 || r.stream_id == 0);
    FUZZ_CHECK(r.verdict == ContextVerdict::kUnknown || r.verdict == r.context.verdict);
    if (r.context.verdict == ContextVerdict::kValid) {
      const TraceparentResult tp = ParseTraceparent(r.traceparent);
      FUZZ_CHECK(tp.ok() && tp.value.trace_id == r.context.trace_id &&
                 tp.value.parent_id == r.context.parent_id);
    }
    if (r.tuple != nullptr) {
      fuzz::Touch({reinterpret_cast<const char*>(r.tuple), sizeof(*r.tuple)});
    }
  }
  void OnResponse(const ResponseSeen& r) override {
    FUZZ_CHECK(r.status <= 999);
    FUZZ_CHECK(r.protocol != Protocol::kHttp1 || r.stream_id == 0);
    fuzz::Touch(r.actor.comm);
  }
  void OnParseError(Protocol protocol, std::string_view reason) override {
    FUZZ_CHECK(KnownParseError(protocol, reason));
  }
  void OnUpgrade(uint64_t, Upgrade to) override {
    FUZZ_CHECK(static_cast<size_t>(to) < kAllUpgrades.size());
  }
  void OnConnectionClosed(uint64_t) override {}
};

// The main loop's housekeeping (main.cc), driven by a marker record: byte 1 picks which of the
// connections seen so far the kernel still tracks (bit i of the byte selects ids with i == id % 8),
// bytes 2-9 (little-endian) are the idle cutoff (else the newest timestamp), and every byte adds to
// the kernel drop totals.
class Housekeeping {
 public:
  void Seen(uint64_t conn_id) { seen_.insert(conn_id); }

  void Run(std::string_view marker, uint64_t last_ts, Metrics& metrics, Pipeline& pipeline,
           ConnectionTracker& tracker) {
    const uint8_t live_mask = marker.size() > 1 ? static_cast<uint8_t>(marker[1]) : 0;
    std::unordered_set<uint64_t> live;
    for (uint64_t id : seen_) {
      if ((live_mask >> (id % 8)) & 1) live.insert(id);
    }
    uint64_t idle_before = last_ts;
    if (marker.size() >= 10) std::memcpy(&idle_before, marker.data() + 2, sizeof(idle_before));
    for (std::size_t i = 0; i < marker.size(); ++i) {
      drops_[i % drops_.size()] += static_cast<uint8_t>(marker[i]);
    }

    pipeline.OnEventsLost(last_ts);
    metrics.SetKernelDrops(drops_);
    const std::size_t before = pipeline.connections();
    const std::size_t closed = pipeline.CloseUntracked(live, idle_before);
    FUZZ_CHECK(pipeline.connections() == before - closed);
    if (fuzz::Verbose())
      std::fprintf(stderr, "housekeeping: let go of %zu of %zu\n", closed, before);
    const std::size_t tracker_before = tracker.size();
    const std::size_t tracker_closed = tracker.CloseUntracked(live, idle_before);
    FUZZ_CHECK(tracker.size() == tracker_before - tracker_closed);
    metrics.SetConnectionsTracked(pipeline.connections());
    const std::array<std::size_t, 3> h2 = pipeline.Http2States();
    FUZZ_CHECK(h2[0] + h2[1] + h2[2] <= pipeline.connections());
    metrics.SetHttp2Connections(h2);
    pipeline.ReapProcesses();
  }

 private:
  std::unordered_set<uint64_t> seen_;
  std::array<uint64_t, TG_DROP_REASON_COUNT> drops_{};
};

std::vector<std::string_view> SplitRecords(std::string_view in) {
  std::vector<std::string_view> records;
  for (;;) {
    const std::size_t at = in.find(kSeparator);
    records.push_back(in.substr(0, at));
    if (at == std::string_view::npos) return records;
    in.remove_prefix(at + kSeparator.size());
  }
}

void CheckJson(const std::string& text) {
  if (!nlohmann::json::accept(text)) {
    std::fprintf(stderr, "rendered JSON does not parse:\n%s\n", text.c_str());
    FUZZ_CHECK(false);
  }
}

}  // namespace
}  // namespace tracegap

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap;  // NOLINT: this file's own helpers
  static const std::array<std::string_view, TG_DROP_REASON_COUNT> kDropLabels = KernelDropLabels();
  static const std::array<std::string_view, http2::kStates.size()> kH2States =
      Labels(http2::kStates);

  // Everything per input, so that one input's state never shapes the next one's run.
  Metrics metrics("fuzz", "fuzz", kDropLabels, http2::kErrorLabels, kH2States);
  ProcessInfoCache processes(EmptyProcRoot(), 16);
  ProcessTable table(8, std::chrono::seconds(1));
  PipelineConfig config;
  config.max_connections = 4;  // small, so that eviction happens
  EdgeTable edges(4, 1);  // small, so that folding and reclaiming happen
  metrics.SetReclaimAfter(1);
  Pipeline pipeline(config, metrics, processes, table, edges, [] { return kWallMs; });
  CheckingObserver observer;
  ConnectionTracker tracker(3, 64, observer);  // other limits than the pipeline's

  uint64_t last_ts = 0;
  Housekeeping housekeeping;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (std::string_view bytes : SplitRecords(input)) {
    const RecordCopy record(bytes);
    const DecodedEvent ev = DecodeEvent(record.span());
    CheckDecode(record.span(), ev);
    pipeline.OnRecord(record.span());
    if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) == kHousekeeping) {
      housekeeping.Run(bytes, last_ts, metrics, pipeline, tracker);
    }
    if (ev.error != DecodeError::kNone) continue;
    if (ev.kind == TG_EVENT_CLOSE) {
      tracker.OnClose(ev.close);
      last_ts = ev.close.ts_ns;
    } else {
      tracker.OnData(ev.data);
      last_ts = ev.data.header->ts_ns;
      housekeeping.Seen(ev.data.header->conn_id);
    }
    FUZZ_CHECK(tracker.size() <= 3);
    FUZZ_CHECK(pipeline.connections() <= config.max_connections);
  }

  // What the API and a scrape would read, then the housekeeping once more.
  const std::vector<ProcessSnapshot> list = table.List();
  FUZZ_CHECK(list.size() <= 8);
  CheckJson(api::RenderProcessList(list));
  if (fuzz::Verbose()) std::fprintf(stderr, "%s\n", api::RenderProcessList(list).c_str());
  for (const ProcessSnapshot& p : list) {
    if (auto detail = table.Find(p.pid)) CheckJson(api::RenderProcessDetail(*detail));
  }
  housekeeping.Run({}, last_ts, metrics, pipeline, tracker);
  const std::string scrape = prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
  FUZZ_CHECK(!scrape.empty());
  return 0;
}
