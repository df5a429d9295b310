#include "protocols/http2/frame_parser.h"

#include <algorithm>

namespace tracegap::http2 {
namespace {

constexpr std::size_t kSettingLen = 6;
constexpr std::size_t kPriorityLen = 5;
constexpr uint16_t kSettingsHeaderTableSize = 0x1;
constexpr uint16_t kSettingsMaxFrameSize = 0x5;

uint32_t Be32(std::string_view b) {
  return (uint32_t{static_cast<uint8_t>(b[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[2])} << 8) | uint32_t{static_cast<uint8_t>(b[3])};
}

// The rules that need only the frame header, so they hold for frames whose payload is not
// copied (or is skipped) too.
Error CheckHeader(const FrameHeader& h) {
  const bool stream0 = h.stream_id == 0;
  switch (h.type) {
    case TG_H2_DATA:
    case TG_H2_HEADERS:
    case TG_H2_PUSH_PROMISE:
    case TG_H2_CONTINUATION:
      return stream0 ? Error::kBadStreamId : Error::kNone;
    case TG_H2_PRIORITY:
      if (stream0) return Error::kBadStreamId;
      return h.length == kPriorityLen ? Error::kNone : Error::kBadFrameLength;
    case TG_H2_RST_STREAM:
      if (stream0) return Error::kBadStreamId;
      return h.length == 4 ? Error::kNone : Error::kBadFrameLength;
    case TG_H2_SETTINGS:
      if (!stream0) return Error::kBadStreamId;
      if ((h.flags & kFlagAck) != 0) return h.length == 0 ? Error::kNone : Error::kBadFrameLength;
      return h.length % kSettingLen == 0 ? Error::kNone : Error::kBadFrameLength;
    case TG_H2_PING:
      if (!stream0) return Error::kBadStreamId;
      return h.length == 8 ? Error::kNone : Error::kBadFrameLength;
    case TG_H2_GOAWAY:
      if (!stream0) return Error::kBadStreamId;
      return h.length >= 8 ? Error::kNone : Error::kBadFrameLength;
    case TG_H2_WINDOW_UPDATE:
      return h.length == 4 ? Error::kNone : Error::kBadFrameLength;
    default:
      return Error::kNone;  // unknown types are ignored (RFC 9113 section 4.1)
  }
}

// Removes the pad length byte and the padding of a PADDED frame.
Error StripPadding(const FrameHeader& h, std::string_view& payload) {
  if ((h.flags & kFlagPadded) == 0) return Error::kNone;
  if (payload.empty()) return Error::kBadPadding;
  const std::size_t pad = static_cast<uint8_t>(payload[0]);
  payload.remove_prefix(1);
  if (pad > payload.size()) return Error::kBadPadding;
  payload.remove_suffix(pad);
  return Error::kNone;
}

Error DecodeSettings(std::string_view payload, Frame& f) {
  if ((f.header.flags & kFlagAck) != 0) return Error::kNone;
  for (std::size_t i = 0; i + kSettingLen <= payload.size(); i += kSettingLen) {
    const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) |
                                              static_cast<uint8_t>(payload[i + 1]));
    const uint32_t value = Be32(payload.substr(i + 2, 4));
    if (id == kSettingsHeaderTableSize) f.header_table_size = value;
    if (id == kSettingsMaxFrameSize) f.max_frame_size = value;
  }
  return Error::kNone;
}

Error DecodePayload(std::string_view payload, Frame& f) {
  const FrameHeader& h = f.header;
  switch (h.type) {
    case TG_H2_HEADERS: {
      if (Error e = StripPadding(h, payload); e != Error::kNone) return e;
      if ((h.flags & kFlagPriority) != 0) {
        // The padding is outside the priority fields, so what is left must hold them.
        if (payload.size() < kPriorityLen) return Error::kBadFrameLength;
        payload.remove_prefix(kPriorityLen);
      }
      f.fragment = payload;
      return Error::kNone;
    }
    case TG_H2_PUSH_PROMISE: {
      if (Error e = StripPadding(h, payload); e != Error::kNone) return e;
      if (payload.size() < 4) return Error::kBadFrameLength;
      f.promised_stream_id = Be32(payload) & 0x7fffffffu;
      f.fragment = payload.substr(4);
      return Error::kNone;
    }
    case TG_H2_CONTINUATION:
      f.fragment = payload;
      return Error::kNone;
    case TG_H2_RST_STREAM:
      f.error_code = Be32(payload);
      return Error::kNone;
    case TG_H2_GOAWAY:
      f.last_stream_id = Be32(payload) & 0x7fffffffu;
      f.error_code = Be32(payload.substr(4));
      return Error::kNone;
    case TG_H2_SETTINGS:
      return DecodeSettings(payload, f);
    default:
      return Error::kNone;
  }
}

}  // namespace

Frame DecodeFrame(const FrameHeader& header, std::string_view payload) {
  Frame f;
  f.header = header;
  f.error = CheckHeader(header);
  if (f.error != Error::kNone) return f;
  if (!TG_H2_PAYLOAD_COPIED(header.type)) return f;
  if (payload.size() != header.length) {
    f.error = Error::kBadFrameLength;  // only a caller bug gets here
    return f;
  }
  f.payload = payload;
  f.error = DecodePayload(payload, f);
  if (f.error != Error::kNone) {
    f.fragment = {};
    f.header_table_size.reset();
    f.max_frame_size.reset();
  }
  return f;
}

FrameParser::FrameParser(std::size_t max_payload) : max_payload_(max_payload) {}

void FrameParser::Reset() {
  header_have_ = 0;
  in_payload_ = false;
  skipping_ = false;
  remaining_ = 0;
  std::string().swap(buffer_);
}

void FrameParser::Feed(std::string_view bytes, FrameSink& sink) {
  while (!bytes.empty()) {
    if (!in_payload_) {
      const std::size_t n = std::min(bytes.size(), header_bytes_.size() - header_have_);
      std::copy_n(bytes.data(), n, header_bytes_.begin() + header_have_);
      header_have_ += n;
      bytes.remove_prefix(n);
      if (header_have_ < header_bytes_.size()) return;
      header_have_ = 0;
      // A frame without copied payload, or one whose payload is to be skipped, is reported now.
      if ((!StartPayload() || skipping_) && !Deliver({}, sink)) return;
      continue;
    }
    const std::size_t n = std::min(bytes.size(), remaining_);
    remaining_ -= n;
    if (skipping_) {
      bytes.remove_prefix(n);
      if (remaining_ == 0) in_payload_ = skipping_ = false;
      continue;
    }
    if (buffer_.empty() && remaining_ == 0) {
      // The whole payload is here: no copy.
      in_payload_ = false;
      const std::string_view payload = bytes.substr(0, n);
      bytes.remove_prefix(n);
      if (!Deliver(payload, sink)) return;
      continue;
    }
    if (buffer_.empty()) buffer_.reserve(header_.length);  // exact: at most max_payload_
    buffer_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (remaining_ == 0) {
      in_payload_ = false;
      if (!Deliver(buffer_, sink)) return;
    }
  }
}

// Decodes the completed frame header; returns whether payload bytes follow it in the records.
bool FrameParser::StartPayload() {
  const auto b = [this](std::size_t i) { return uint32_t{header_bytes_[i]}; };
  header_.length = (b(0) << 16) | (b(1) << 8) | b(2);
  header_.type = header_bytes_[3];
  header_.flags = header_bytes_[4];
  header_.stream_id = ((b(5) << 24) | (b(6) << 16) | (b(7) << 8) | b(8)) & 0x7fffffffu;
  if (!TG_H2_PAYLOAD_COPIED(header_.type) || header_.length == 0) return false;
  in_payload_ = true;
  remaining_ = header_.length;
  // A frame already known to be bad, or too long, is passed over without buffering.
  skipping_ = header_.length > max_payload_ || HeaderError() != Error::kNone;
  return true;
}

Error FrameParser::HeaderError() const {
  const Error e = CheckHeader(header_);
  if (e != Error::kNone) return e;
  if (max_frame_size_ != 0 && header_.length > max_frame_size_) return Error::kFrameSizeExceeded;
  return Error::kNone;
}

bool FrameParser::Deliver(std::string_view payload, FrameSink& sink) {
  Frame frame;
  frame.header = header_;
  frame.error = HeaderError();
  if (frame.error == Error::kNone && skipping_) {
    frame.error = Error::kFrameTooLarge;
  } else if (frame.error == Error::kNone) {
    frame = DecodeFrame(header_, payload);
  }
  const bool go_on = sink.OnFrame(frame);
  if (!skipping_) {
    buffer_.clear();
    if (buffer_.capacity() > kRetainBytes) std::string().swap(buffer_);
  }
  if (!go_on) Reset();
  return go_on;
}

}  // namespace tracegap::http2
