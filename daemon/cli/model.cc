#include "cli/model.h"

#include <limits>
#include <string_view>

namespace tracegap::cli {
namespace {

using Value = Document;
using Type = nlohmann::json::value_t;

// "a number" for every kind of number: the messages speak of the API's types, not the parser's.
std::string_view TypeName(Type t) {
  switch (t) {
    case Type::null:
      return "null";
    case Type::boolean:
      return "a boolean";
    case Type::number_integer:
    case Type::number_unsigned:
    case Type::number_float:
      return "a number";
    case Type::string:
      return "a string";
    case Type::array:
      return "an array";
    case Type::object:
      return "an object";
    case Type::binary:
    case Type::discarded:
      break;
  }
  return "not a JSON value";
}

bool IsNumber(Type t) {
  return t == Type::number_integer || t == Type::number_unsigned || t == Type::number_float;
}

// Typed access to one object's fields; the first failure is reported with the field's path
// (e.g. "processes[3].outbound.dropped") and every later call fails too.
class Fields {
 public:
  Fields(const Value& v, std::string path, std::string* error)
      : obj_(v), path_(std::move(path)), error_(error) {
    if (!v.is_object()) Fail(path_, "is " + std::string(TypeName(v.type())) + ", not an object");
  }

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

  // `type` stands for every number type when it is one of them.
  const Value* Get(std::string_view key, Type type) {
    if (!ok_) return nullptr;
    const auto it = obj_.find(key);
    if (it == obj_.end()) return Fail(Path(key), "is missing");
    const Value& v = *it;
    if (v.type() != type && !(IsNumber(type) && v.is_number())) {
      return Fail(Path(key),
                  "is " + std::string(TypeName(v.type())) + ", not " + std::string(TypeName(type)));
    }
    return &v;
  }

  // Written as an integer (no fraction or exponent) within uint64: counters are exact. "-0" is
  // one too (the parser holds it as a signed 0), so signed values count by their sign.
  void Uint(std::string_view key, uint64_t* out) {
    const Value* v = Get(key, Type::number_unsigned);
    if (v == nullptr) return;
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      Fail(Path(key), "is not a non-negative integer");
      return;
    }
    *out = v->get<uint64_t>();
  }

  void Number(std::string_view key, double* out) {
    if (const Value* v = Get(key, Type::number_float)) *out = v->get<double>();
  }

  void String(std::string_view key, std::string* out) {
    if (const Value* v = Get(key, Type::string)) *out = v->get_ref<const std::string&>();
  }

  void Bool(std::string_view key, bool* out) {
    if (const Value* v = Get(key, Type::boolean)) *out = v->get<bool>();
  }

  std::string Path(std::string_view key) const { return path_ + "." + std::string(key); }
  // Fields added in later versions are optional: a document without them still decodes.
  bool Has(std::string_view key) const { return ok_ && obj_.contains(key); }

  std::nullptr_t Fail(const std::string& where, const std::string& what) {
    if (ok_) *error_ = where + " " + what;
    ok_ = false;
    return nullptr;
  }

 private:
  const Value& obj_;
  std::string path_;
  std::string* error_;
  bool ok_ = true;
};

// The array's elements as strings, or false naming the first element that is not one.
bool StringItems(Fields& f, const Value& items, std::string_view key,
                 std::vector<std::string>* out) {
  out->clear();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      f.Fail(f.Path(key) + "[" + std::to_string(i) + "]", "is not a string");
      return false;
    }
    out->push_back(items[i].get<std::string>());
  }
  return true;
}

bool DecodeProcess(const Value& v, std::string path, ProcessRow* out, std::string* error) {
  Fields f(v, std::move(path), error);
  uint64_t pid = 0;
  f.Uint("pid", &pid);
  if (f.ok() && pid > std::numeric_limits<uint32_t>::max()) f.Fail(f.Path("pid"), "is too large");
  out->pid = static_cast<uint32_t>(pid);
  f.Uint("start_time", &out->start_time);
  f.String("comm", &out->comm);
  f.String("unit", &out->unit);
  f.String("exe", &out->exe);
  if (f.Has("workload")) f.String("workload", &out->workload);
  if (f.Has("container")) f.String("container", &out->container);
  if (f.Has("namespace")) f.String("namespace", &out->namespace_);
  if (const Value* in = f.Get("inbound", Type::object)) {
    Fields g(*in, f.Path("inbound"), error);
    for (size_t i = 0; i < kInboundKeys.size(); ++i) g.Uint(kInboundKeys[i], &out->inbound[i]);
    if (!g.ok()) return false;
  }
  if (const Value* outbound = f.Get("outbound", Type::object)) {
    Fields g(*outbound, f.Path("outbound"), error);
    for (Outcome o : kAllOutcomes) g.Uint(Label(o), &out->outbound[static_cast<size_t>(o)]);
    if (!g.ok()) return false;
  }
  f.Uint("gaps", &out->gaps);
  f.Number("gap_ratio", &out->gap_ratio);
  f.String("first_seen", &out->first_seen);
  f.String("last_seen", &out->last_seen);
  f.Bool("exited", &out->exited);
  return f.ok();
}

bool DecodeExample(const Value& v, std::string path, ExampleRow* out, std::string* error) {
  Fields f(v, std::move(path), error);
  f.String("time", &out->time);
  f.String("outcome", &out->outcome);
  f.String("protocol", &out->protocol);
  f.String("method", &out->method);
  f.String("authority", &out->authority);
  f.String("path", &out->path);
  f.String("peer", &out->peer);
  if (const Value* ids = f.Get("inbound_trace_ids", Type::array)) {
    if (!StringItems(f, *ids, "inbound_trace_ids", &out->inbound_trace_ids)) return false;
  }
  f.String("outbound_traceparent", &out->outbound_traceparent);
  if (f.Has("tls")) f.Bool("tls", &out->tls);
  return f.ok();
}

}  // namespace

uint64_t ProcessRow::inbound_total() const { return Total(inbound); }
uint64_t ProcessRow::outbound_total() const { return Total(outbound); }
uint64_t ProcessRow::with_context() const { return WithContext(outbound); }

bool DecodeProcessList(const Value& doc, std::vector<ProcessRow>* out, std::string* error) {
  Fields f(doc, "response", error);
  const Value* list = f.Get("processes", Type::array);
  if (list == nullptr) return false;
  out->clear();
  out->reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    ProcessRow row;
    if (!DecodeProcess((*list)[i], "processes[" + std::to_string(i) + "]", &row, error)) {
      return false;
    }
    out->push_back(std::move(row));
  }
  return true;
}

bool DecodeProcessDetail(const Value& doc, ProcessDetail* out, std::string* error) {
  if (!DecodeProcess(doc, "process", &out->process, error)) return false;
  Fields f(doc, "process", error);
  const Value* examples = f.Get("gap_examples", Type::array);
  if (examples == nullptr) return false;
  out->examples.clear();
  for (size_t i = 0; i < examples->size(); ++i) {
    ExampleRow e;
    const std::string path = "process.gap_examples[" + std::to_string(i) + "]";
    if (!DecodeExample((*examples)[i], path, &e, error)) return false;
    out->examples.push_back(std::move(e));
  }
  return true;
}

bool DecodeEdges(const Value& doc, EdgeList* out, std::string* error) {
  Fields f(doc, "edges", error);
  f.Uint("max_edges", &out->max_edges);
  f.Uint("edges_tracked", &out->edges_tracked);
  f.Uint("folded_requests", &out->folded_requests);
  const Value* list = f.Get("edges", Type::array);
  if (list == nullptr) return false;
  out->edges.clear();
  out->edges.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = "edges[" + std::to_string(i) + "]";
    Fields g((*list)[i], path, error);
    EdgeRow e;
    g.String("client", &e.client);
    g.String("server", &e.server);
    g.String("protocol", &e.protocol);
    if (const Value* outbound = g.Get("outbound", Type::object)) {
      Fields h(*outbound, g.Path("outbound"), error);
      for (Outcome o : kAllOutcomes) h.Uint(Label(o), &e.outbound[static_cast<size_t>(o)]);
      if (!h.ok()) return false;
    }
    g.Uint("requests", &e.requests);
    g.Uint("gaps", &e.gaps);
    g.Number("gap_ratio", &e.gap_ratio);
    g.String("first_seen", &e.first_seen);
    g.String("last_seen", &e.last_seen);
    if (!g.ok()) return false;
    if (const auto it = (*list)[i].find("last_gap"); it != (*list)[i].end() && !it->is_null()) {
      ExampleRow ex;
      if (!DecodeExample(*it, path + ".last_gap", &ex, error)) return false;
      e.last_gap = std::move(ex);
    }
    out->edges.push_back(std::move(e));
  }
  return f.ok();
}

bool DecodeStatus(const Value& doc, StatusInfo* out, std::string* error) {
  Fields f(doc, "status", error);
  f.String("version", &out->version);
  f.Number("uptime_seconds", &out->uptime_seconds);
  f.String("attach", &out->attach);
  f.String("capture", &out->capture);
  f.Bool("http2", &out->http2);
  f.Bool("degraded", &out->degraded);
  if (const Value* failures = f.Get("load_failures", Type::array)) {
    if (!StringItems(f, *failures, "load_failures", &out->load_failures)) return false;
  }
  if (const Value* drops = f.Get("kernel_drops", Type::object)) {
    Fields g(*drops, f.Path("kernel_drops"), error);
    out->kernel_drops.clear();
    for (const auto& item : drops->items()) {
      uint64_t n = 0;
      g.Uint(item.key(), &n);
      out->kernel_drops.emplace_back(item.key(), n);
    }
    if (!g.ok()) return false;
  }
  f.Uint("connections_tracked", &out->connections_tracked);
  f.Uint("processes_tracked", &out->processes_tracked);
  if (f.Has("tls")) {
    const Value* tls = f.Get("tls", Type::object);
    Fields t(*tls, f.Path("tls"), error);
    t.String("mode", &out->tls_mode);
    t.String("unavailable", &out->tls_unavailable);
    if (const Value* libs = t.Get("libraries", Type::array)) {
      for (size_t i = 0; i < libs->size(); ++i) {
        StatusInfo::TlsLibrary l;
        Fields g((*libs)[i], t.Path("libraries") + "[" + std::to_string(i) + "]", error);
        g.String("path", &l.path);
        g.String("kind", &l.kind);
        g.Bool("attached", &l.attached);
        g.String("error", &l.error);
        g.Uint("probes", &l.probes);
        if (!g.ok()) return false;
        out->tls_libraries.push_back(std::move(l));
      }
    }
    if (const Value* unseen = t.Get("unseen", Type::array)) {
      for (size_t i = 0; i < unseen->size(); ++i) {
        StatusInfo::TlsUnseen u;
        Fields g((*unseen)[i], t.Path("unseen") + "[" + std::to_string(i) + "]", error);
        g.Uint("pid", &u.pid);
        g.String("comm", &u.comm);
        g.String("exe", &u.exe);
        g.String("reason", &u.reason);
        g.String("detail", &u.detail);
        g.Uint("connections", &u.connections);
        if (!g.ok()) return false;
        out->tls_unseen.push_back(std::move(u));
      }
    }
    if (!t.ok()) return false;
  }
  return f.ok();
}

}  // namespace tracegap::cli
