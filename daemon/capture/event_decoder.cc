#include "capture/event_decoder.h"

#include <cstring>

namespace tracegap {

DecodedEvent DecodeEvent(std::span<const uint8_t> record) {
  DecodedEvent out;
  if (record.size() < sizeof(tg_event_header)) {
    out.error = DecodeError::kTooShort;
    return out;
  }
  const auto* hdr = reinterpret_cast<const tg_event_header*>(record.data());
  out.kind = hdr->kind;
  if (hdr->kind == TG_EVENT_CLOSE) {
    out.close = CloseEvent{hdr->conn_id, hdr->ts_ns};
    return out;
  }
  if (hdr->kind != TG_EVENT_DATA && hdr->kind != TG_EVENT_TLS_UNSEEN) {
    out.error = DecodeError::kUnknownKind;
    return out;
  }
  if (record.size() < sizeof(tg_data_event)) {
    out.error = DecodeError::kTooShort;
    return out;
  }
  const auto* ev = reinterpret_cast<const tg_data_event*>(record.data());
  if (ev->hdr.direction != TG_DIR_EGRESS && ev->hdr.direction != TG_DIR_INGRESS) {
    out.error = DecodeError::kBadDirection;
    return out;
  }
  // The ring buffer rounds records up to 8 bytes, so the record may be longer than the data.
  const size_t room = record.size() - sizeof(tg_data_event);
  if (ev->data_len > room || ev->data_len > TG_MAX_COPY ||
      (hdr->kind == TG_EVENT_TLS_UNSEEN && ev->data_len != 0)) {
    out.error = DecodeError::kBadLength;
    return out;
  }
  if (ev->hdr.transport != TG_TRANSPORT_TCP && ev->hdr.transport != TG_TRANSPORT_TLS) {
    out.error = DecodeError::kBadTransport;
    return out;
  }
  const char* comm = ev->hdr.comm;
  const size_t comm_len = strnlen(comm, TG_COMM_LEN);
  out.data = DataEvent{
      .header = &ev->hdr,
      .tuple = &ev->tuple,
      .direction = static_cast<Direction>(ev->hdr.direction),
      .flags = ev->hdr.flags,
      .tls = ev->hdr.transport == TG_TRANSPORT_TLS,
      .syscall_bytes = ev->syscall_bytes,
      .data = std::string_view(reinterpret_cast<const char*>(ev->data), ev->data_len),
      .comm = std::string_view(comm, comm_len),
  };
  return out;
}

std::string_view Label(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kTooShort:
      return "event_too_short";
    case DecodeError::kUnknownKind:
      return "event_unknown_kind";
    case DecodeError::kBadDirection:
      return "event_bad_direction";
    case DecodeError::kBadLength:
      return "event_bad_length";
    case DecodeError::kBadTransport:
      return "event_bad_transport";
  }
  return "event_invalid";
}

}  // namespace tracegap
