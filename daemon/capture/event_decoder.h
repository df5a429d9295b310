#pragma once
// Turns one raw ring-buffer record into a typed, validated event. A pure function over bytes:
// a record that does not fit the ABI is reported, never trusted (fuzzed in tests/fuzz).

#include <cstdint>
#include <span>
#include <string_view>

#include "tracegap.h"
#include "vocabulary.h"

namespace tracegap {

// A record's direction byte is cast to Direction once validated.
static_assert(static_cast<int>(Direction::kEgress) == TG_DIR_EGRESS);
static_assert(static_cast<int>(Direction::kIngress) == TG_DIR_INGRESS);

struct DataEvent {
  const tg_event_header* header;  // kind == TG_EVENT_DATA
  const tg_tuple* tuple;
  Direction direction;
  uint16_t flags;    // enum tg_data_flags
  bool tls = false;  // the plaintext of a TLS connection (TG_TRANSPORT_TLS)
  uint32_t syscall_bytes;
  std::string_view data;  // header bytes; views into the record
  std::string_view comm;  // NUL-trimmed
};

struct CloseEvent {
  uint64_t conn_id;
  uint64_t ts_ns;
};

enum class DecodeError : uint8_t {
  kNone,
  kTooShort,  // smaller than its header
  kUnknownKind,
  kBadDirection,
  kBadLength,     // data_len disagrees with the record size, or exceeds TG_MAX_COPY
  kBadTransport,  // a transport byte that is neither TCP nor TLS
};

struct DecodedEvent {
  DecodeError error = DecodeError::kNone;
  uint8_t kind = 0;  // TG_EVENT_DATA, TG_EVENT_CLOSE or TG_EVENT_TLS_UNSEEN when error == kNone
  DataEvent data{};  // DATA, and TLS_UNSEEN (with no data)
  CloseEvent close{};
};

// `record` must be 8-byte aligned (ring buffer records are) and stay alive while the result is
// used: the result points into it.
DecodedEvent DecodeEvent(std::span<const uint8_t> record);

std::string_view Label(DecodeError e);

}  // namespace tracegap
