#include "protocols/amqp/direction_decoder.h"

#include <algorithm>
#include <cstring>

#include "protocols/amqp/content_header.h"
#include "tracegap.h"  // TG_DATA_*

namespace tracegap::amqp {
namespace {

constexpr std::size_t kRetainPending = 4;

template <typename T>
void ReleaseIfLarge(std::vector<T>& v, std::size_t retain) {
  if (v.capacity() > retain) {
    std::vector<T>().swap(v);
  } else {
    v.clear();
  }
}

}  // namespace

DirectionDecoder::DirectionDecoder(std::size_t cap, std::size_t max_channels)
    : cap_(cap), max_channels_(max_channels) {}

std::size_t DirectionDecoder::memory_bytes() const {
  return body_.capacity() + fields_.capacity() * sizeof(HeaderField) +
         pending_.capacity() * sizeof(Pending);
}

std::size_t DirectionDecoder::MemoryBound(std::size_t cap, std::size_t max_channels) {
  // Vectors grow by doubling: up to twice what they must hold. The smallest field entry is 4
  // bytes (a two-byte trace-context name of type 'V').
  const std::size_t fields = std::max(kRetainFields, 2 * (cap / 4 + 1));
  return std::max(cap, kRetainBytes) + fields * sizeof(HeaderField) +
         std::max(kRetainPending, 2 * max_channels) * sizeof(Pending);
}

void DirectionDecoder::Feed(std::string_view bytes, uint16_t flags, MessageSink& sink) {
  sink_ = &sink;
  if ((flags & TG_DATA_LOST_BEFORE) != 0) {
    sink.OnError(Error::kLost);
    ResetRecord();
    EndAllPending(Error::kLost);
    skipping_ = true;
  }
  if (skipping_) {
    if ((flags & TG_DATA_CONTINUATION) != 0) {  // begins inside a record: nothing to resume at
      sink_ = nullptr;
      return;
    }
    skipping_ = false;
  }
  while (!bytes.empty()) {
    if (header_have_ < kFrameHeaderLen) {
      const std::size_t n = std::min(kFrameHeaderLen - header_have_, bytes.size());
      std::memcpy(header_bytes_.data() + header_have_, bytes.data(), n);
      header_have_ += n;
      bytes.remove_prefix(n);
      if (header_have_ < kFrameHeaderLen) break;
      header_ = DecodeFrameHeader({header_bytes_.data(), kFrameHeaderLen});
      body_len_ = RecordBodyLength(header_, cap_);
      if (body_len_ == 0) {
        OnRecord({});
        ResetRecord();
      }
      continue;
    }
    if (body_.empty() && bytes.size() >= body_len_) {
      OnRecord(bytes.substr(0, body_len_));  // the whole body is here: no copy
      bytes.remove_prefix(body_len_);
      ResetRecord();
      continue;
    }
    if (body_.empty()) body_.reserve(body_len_);
    const std::size_t n = std::min(body_len_ - body_.size(), bytes.size());
    body_.insert(body_.end(), bytes.data(), bytes.data() + n);
    bytes.remove_prefix(n);
    if (body_.size() == body_len_) {
      OnRecord({body_.data(), body_.size()});
      ResetRecord();
    }
  }
  sink_ = nullptr;
}

void DirectionDecoder::Close(MessageSink& sink) {
  sink_ = &sink;
  if (header_have_ != 0 || !pending_.empty()) sink.OnError(Error::kTruncated);
  EndAllPending(Error::kTruncated);
  ResetRecord();
  std::vector<char>().swap(body_);
  std::vector<HeaderField>().swap(fields_);
  std::vector<Pending>().swap(pending_);
  skipping_ = false;
  sink_ = nullptr;
}

void DirectionDecoder::ResetRecord() {
  header_have_ = 0;
  body_len_ = 0;
  ReleaseIfLarge(body_, kRetainBytes);
}

void DirectionDecoder::OnRecord(std::string_view body) {
  switch (header_.type) {
    case kFrameMethod:
      OnMethod(SplitRecordBody(header_, body));
      return;
    case kFrameHeader:
      OnContentHeader(SplitRecordBody(header_, body));
      return;
    case kFrameBody:
    case kFrameHeartbeat:
      return;
    default:
      sink_->OnError(Error::kUnknownFrameType);
      return;
  }
}

void DirectionDecoder::OnMethod(const CopiedPayload& payload) {
  const uint16_t channel = header_.channel;
  if (payload.whole && !payload.end_ok) {
    sink_->OnError(Error::kBadFrameEnd);
    EndChannel(channel, Error::kBadFrameEnd);
    return;
  }
  const Method method = ParseMethod(payload.bytes, payload.whole);
  if (method.error != Error::kNone) {
    sink_->OnError(method.error);
    EndChannel(channel, method.error);
    return;
  }
  if (FindPending(channel) != nullptr) {
    sink_->OnError(Error::kUnexpectedMethod);
    EndChannel(channel, Error::kUnexpectedMethod);
  }
  if (method.content) AddPending(method);
}

void DirectionDecoder::OnContentHeader(const CopiedPayload& payload) {
  Pending* pending = FindPending(header_.channel);
  if (pending == nullptr) {
    sink_->OnError(Error::kUnexpectedHeader);
    return;
  }
  const std::size_t index = static_cast<std::size_t>(pending - pending_.data());
  if (payload.whole && !payload.end_ok) {
    sink_->OnError(Error::kBadFrameEnd);
    EndPending(index, Error::kBadFrameEnd);
    return;
  }
  fields_.clear();
  const ContentHeader header = ParseContentHeader(payload.bytes, payload.whole, fields_);
  Error error = header.error;
  if (error == Error::kNone && header.class_id != kClassBasic) {
    error = Error::kBadFrame;  // content of a basic method must be of class basic
    fields_.clear();
  }
  if (error != Error::kNone) sink_->OnError(error);
  Report(*pending, fields_, error);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  ReleaseIfLarge(fields_, kRetainFields);
  if (pending_.empty()) ReleaseIfLarge(pending_, kRetainPending);
}

void DirectionDecoder::AddPending(const Method& method) {
  Pending p;
  p.channel = header_.channel;
  p.kind = *method.content;
  // Shortstrs: at most 255 bytes, which is what the arrays hold.
  p.exchange_len = static_cast<uint8_t>(method.exchange.size());
  p.routing_key_len = static_cast<uint8_t>(method.routing_key.size());
  std::copy(method.exchange.begin(), method.exchange.end(), p.exchange.begin());
  std::copy(method.routing_key.begin(), method.routing_key.end(), p.routing_key.begin());
  if (pending_.size() >= max_channels_) {
    sink_->OnError(Error::kTooManyChannels);
    if (pending_.empty()) {  // max_channels == 0: nothing can wait
      Report(p, {}, Error::kTooManyChannels);
      return;
    }
    EndPending(0, Error::kTooManyChannels);
  }
  pending_.push_back(p);
}

DirectionDecoder::Pending* DirectionDecoder::FindPending(uint16_t channel) {
  for (Pending& p : pending_) {
    if (p.channel == channel) return &p;
  }
  return nullptr;
}

void DirectionDecoder::EndPending(std::size_t index, Error reason) {
  Report(pending_[index], {}, reason);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  if (pending_.empty()) ReleaseIfLarge(pending_, kRetainPending);
}

void DirectionDecoder::EndChannel(uint16_t channel, Error reason) {
  if (Pending* p = FindPending(channel)) {
    EndPending(static_cast<std::size_t>(p - pending_.data()), reason);
  }
}

void DirectionDecoder::EndAllPending(Error reason) {
  for (const Pending& p : pending_) Report(p, {}, reason);
  ReleaseIfLarge(pending_, kRetainPending);
}

void DirectionDecoder::Report(const Pending& p, std::span<const HeaderField> headers,
                              Error reason) {
  Message m;
  m.kind = p.kind;
  m.channel = p.channel;
  m.exchange = {p.exchange.data(), p.exchange_len};
  m.routing_key = {p.routing_key.data(), p.routing_key_len};
  m.headers = headers;
  m.complete = reason == Error::kNone;
  m.incomplete_reason = reason;
  sink_->OnMessage(m);
}

}  // namespace tracegap::amqp
