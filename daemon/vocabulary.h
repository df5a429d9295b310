#pragma once
// The words every stage shares, from capture to the CLI: which way bytes went, which protocol
// carried a request, what trace context it arrived with, and what became of it outbound.
//
// Each is written the same way: an enum class whose values run 0..N-1, kAll<Name>s listing them in
// that order (so a value indexes per-value counters, and a count is kAll<Name>s.size(), never a
// number written down), and a constexpr Label() giving the name used in metrics and the API.
// Header-only and free of dependencies: the CLI, which links nothing of the daemon, uses it too.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap {

// Returned for a value outside its enum (a caller bug), so that no label is ever empty.
inline constexpr std::string_view kInvalidLabel = "invalid";

// Which way a syscall moved bytes, as the process sees it (TG_DIR_* in bpf/tracegap.h, which
// capture/event_decoder.h checks against these values).
enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };
inline constexpr std::array kAllDirections = {Direction::kEgress, Direction::kIngress};

constexpr std::string_view Label(Direction d) {
  switch (d) {
    case Direction::kEgress:
      return "egress";  // the process sent them
    case Direction::kIngress:
      return "ingress";  // the process received them
  }
  return kInvalidLabel;
}

// Which protocol carried a request or a message (gRPC: HTTP/2 with content-type
// application/grpc; AMQP 0-9-1, Kafka, NATS: a message published or delivered).
enum class Protocol : uint8_t { kHttp1, kHttp2, kGrpc, kAmqp, kKafka, kNats };
inline constexpr std::array kAllProtocols = {Protocol::kHttp1, Protocol::kHttp2, Protocol::kGrpc,
                                             Protocol::kAmqp,  Protocol::kKafka, Protocol::kNats};

constexpr std::string_view Label(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kHttp2:
      return "http2";
    case Protocol::kGrpc:
      return "grpc";
    case Protocol::kAmqp:
      return "amqp";
    case Protocol::kKafka:
      return "kafka";
    case Protocol::kNats:
      return "nats";
  }
  return kInvalidLabel;
}

// Message queues: a message has no response, so "being served" is a window (docs/semantics.md).
constexpr bool IsMessaging(Protocol p) {
  return p == Protocol::kAmqp || p == Protocol::kKafka || p == Protocol::kNats;
}

// What an HTTP/1 connection became when HTTP/1 ended on it (a 101 Switching Protocols, or a 2xx
// answer to CONNECT): after that, nothing on it is parsed as HTTP/1.
enum class Upgrade : uint8_t {
  kH2c,        // 101 to HTTP/2 over cleartext, asked for and agreed (then followed as HTTP/2)
  kWebsocket,  // 101 to WebSocket
  kTunnel,     // a 2xx answer to CONNECT
  kOther,      // a 101 to anything else (TLS, a custom protocol, or not what was asked)
};
inline constexpr std::array kAllUpgrades = {Upgrade::kH2c, Upgrade::kWebsocket, Upgrade::kTunnel,
                                            Upgrade::kOther};

constexpr std::string_view Label(Upgrade u) {
  switch (u) {
    case Upgrade::kH2c:
      return "h2c";
    case Upgrade::kWebsocket:
      return "websocket";
    case Upgrade::kTunnel:
      return "tunnel";
    case Upgrade::kOther:
      return "other";
  }
  return kInvalidLabel;
}

// The W3C trace context a request carried (docs/semantics.md).
enum class ContextVerdict : uint8_t {
  kValid,      // a valid traceparent
  kMissing,    // no traceparent
  kMalformed,  // a traceparent that is not valid
  kUnknown,    // the headers could not be read completely
};
inline constexpr std::array kAllContextVerdicts = {ContextVerdict::kValid, ContextVerdict::kMissing,
                                                   ContextVerdict::kMalformed,
                                                   ContextVerdict::kUnknown};

constexpr std::string_view Label(ContextVerdict v) {
  switch (v) {
    case ContextVerdict::kValid:
      return "valid";
    case ContextVerdict::kMissing:
      return "missing";
    case ContextVerdict::kMalformed:
      return "malformed";
    case ContextVerdict::kUnknown:
      return "unknown";
  }
  return kInvalidLabel;
}

// What became of the context in one outbound request (docs/semantics.md; correlate/outcome.h
// says which outcomes are gaps).
enum class Outcome : uint8_t {
  kOrigin,            // no active inbound request: the process starts work on its own
  kUntracedUpstream,  // active inbound requests, none with a valid traceparent
  kPropagated,        // same trace id as an active inbound, a new parent id
  kPassthrough,       // same trace id and parent id: forwarded unchanged
  kDropped,           // no traceparent although an active inbound had one
  kRestarted,         // a valid traceparent of a trace no active inbound carries
  kMangled,           // a malformed traceparent
  kUnknown,           // headers or the inbound side not fully seen; never a gap
};
inline constexpr std::array kAllOutcomes = {
    Outcome::kOrigin,  Outcome::kUntracedUpstream, Outcome::kPropagated, Outcome::kPassthrough,
    Outcome::kDropped, Outcome::kRestarted,        Outcome::kMangled,    Outcome::kUnknown};

constexpr std::string_view Label(Outcome o) {
  switch (o) {
    case Outcome::kOrigin:
      return "origin";
    case Outcome::kUntracedUpstream:
      return "untraced_upstream";
    case Outcome::kPropagated:
      return "propagated";
    case Outcome::kPassthrough:
      return "passthrough";
    case Outcome::kDropped:
      return "dropped";
    case Outcome::kRestarted:
      return "restarted";
    case Outcome::kMangled:
      return "mangled";
    case Outcome::kUnknown:
      return "unknown";
  }
  return kInvalidLabel;
}

// Every value's label, in the order of `all` (a kAll... array, or any array of values that have
// a Label()), e.g. the label values a metric is declared with.
template <typename Enum, size_t N>
constexpr std::array<std::string_view, N> Labels(const std::array<Enum, N>& all) {
  std::array<std::string_view, N> labels{};
  for (size_t i = 0; i < N; ++i) labels[i] = Label(all[i]);
  return labels;
}

// The kAll arrays list each enum in value order: what indexing counters by value relies on.
namespace vocabulary_internal {
template <typename Enum, size_t N>
constexpr bool InValueOrder(const std::array<Enum, N>& all) {
  for (size_t i = 0; i < N; ++i) {
    if (static_cast<size_t>(all[i]) != i) return false;
  }
  return true;
}
static_assert(InValueOrder(kAllDirections));
static_assert(InValueOrder(kAllProtocols));
static_assert(InValueOrder(kAllContextVerdicts));
static_assert(InValueOrder(kAllOutcomes));
static_assert(InValueOrder(kAllUpgrades));
}  // namespace vocabulary_internal

}  // namespace tracegap
