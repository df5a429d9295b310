#include "protocols/kafka/direction_decoder.h"

#include <algorithm>
#include <cstring>

#include "protocols/kafka/fetch.h"
#include "protocols/kafka/produce.h"
#include "protocols/kafka/record_batch.h"
#include "tracegap.h"  // TG_DATA_*

namespace tracegap::kafka {
namespace {

template <typename T>
void ReleaseIfLarge(std::vector<T>& v, std::size_t retain) {
  if (v.capacity() > retain) {
    std::vector<T>().swap(v);
  } else {
    v.clear();
  }
}

}  // namespace

DirectionDecoder::DirectionDecoder(Side side, std::size_t cap)
    : side_(side), header_len_(HeaderLength(side)), cap_(cap) {}

std::size_t DirectionDecoder::memory_bytes() const {
  return body_.capacity() + fields_.capacity() * sizeof(HeaderField);
}

std::size_t DirectionDecoder::MemoryBound(std::size_t cap) {
  // Vectors grow by doubling: up to twice what they must hold. The smallest header is 2 bytes
  // (two one-byte lengths), so a record within `cap` bytes has at most cap / 2 of them.
  const std::size_t fields = std::max(kRetainFields, 2 * (cap / 2 + 1));
  return std::max(cap, kRetainBytes) + fields * sizeof(HeaderField);
}

void DirectionDecoder::Feed(std::string_view bytes, uint16_t flags, InFlight& in_flight,
                            MessageSink& sink) {
  in_flight_ = &in_flight;
  sink_ = &sink;
  if ((flags & TG_DATA_LOST_BEFORE) != 0) {
    sink.OnError(Error::kLost);
    EndPartialRecord(Error::kLost);
    ResetRecord();
    skipping_ = true;
  }
  if (skipping_ && (flags & TG_DATA_CONTINUATION) != 0) {
    bytes = {};  // begins inside a record: nothing to resume at
  } else {
    skipping_ = false;
  }
  while (!bytes.empty()) {
    if (header_have_ < header_len_) {
      const std::size_t n = std::min(header_len_ - header_have_, bytes.size());
      std::memcpy(header_bytes_.data() + header_have_, bytes.data(), n);
      header_have_ += n;
      bytes.remove_prefix(n);
      if (header_have_ < header_len_) break;
      header_ = DecodeFrameHeader(side_, {header_bytes_.data(), header_len_});
      body_len_ = RecordBodyLength(side_, header_, cap_);
      if (body_len_ == 0) {
        OnFrame({}, Error::kNone);
        ResetRecord();
      }
      continue;
    }
    if (body_.empty() && bytes.size() >= body_len_) {
      OnFrame(bytes.substr(0, body_len_), Error::kNone);  // the whole body is here: no copy
      bytes.remove_prefix(body_len_);
      ResetRecord();
      continue;
    }
    if (body_.empty()) body_.reserve(body_len_);
    const std::size_t n = std::min(body_len_ - body_.size(), bytes.size());
    body_.insert(body_.end(), bytes.data(), bytes.data() + n);
    bytes.remove_prefix(n);
    if (body_.size() == body_len_) {
      OnFrame({body_.data(), body_.size()}, Error::kNone);
      ResetRecord();
    }
  }
  in_flight_ = nullptr;
  sink_ = nullptr;
}

void DirectionDecoder::Close(InFlight& in_flight, MessageSink& sink) {
  in_flight_ = &in_flight;
  sink_ = &sink;
  if (header_have_ != 0) sink.OnError(Error::kClosed);
  EndPartialRecord(Error::kClosed);
  ResetRecord();
  std::vector<char>().swap(body_);
  std::vector<HeaderField>().swap(fields_);
  skipping_ = false;
  in_flight_ = nullptr;
  sink_ = nullptr;
}

void DirectionDecoder::ResetRecord() {
  header_have_ = 0;
  body_len_ = 0;
  ReleaseIfLarge(body_, kRetainBytes);
}

void DirectionDecoder::EndPartialRecord(Error reason) {
  // A partial header tells nothing; a complete one with part of its body is a frame cut short.
  if (header_have_ == header_len_) OnFrame({body_.data(), body_.size()}, reason);
}

void DirectionDecoder::OnFrame(std::string_view body, Error stream_cut) {
  // Whole: the record is complete and the kernel copied all of the frame's rest. Otherwise the
  // frame's bytes end early: cut by the copy limit, or by the stream (loss, close).
  const bool whole = stream_cut == Error::kNone && body.size() == RestLength(side_, header_);
  const Error cut_reason = stream_cut == Error::kNone ? Error::kTruncated : stream_cut;
  if (side_ == Side::kRequests) {
    OnRequest(body, whole, cut_reason);
  } else {
    OnResponse(body, whole, cut_reason);
  }
  ReleaseIfLarge(fields_, kRetainFields);
}

void DirectionDecoder::OnRequest(std::string_view body, bool whole, Error cut_reason) {
  bool answered = true;
  if (header_.api_key == kApiProduce) {
    fields_.clear();
    FrameReports reports(*sink_, fields_, cut_reason);
    const ProduceSummary produce = ParseProduceRequest(header_, body, whole, reports);
    answered = !produce.acks_read || produce.acks != 0;
  }
  if (answered &&
      !in_flight_->Add({header_.correlation_id, header_.api_key, header_.api_version})) {
    sink_->OnError(Error::kTooManyInFlight);
  }
}

void DirectionDecoder::OnResponse(std::string_view body, bool whole, Error cut_reason) {
  const std::optional<InFlightRequest> request = in_flight_->Take(header_.correlation_id);
  if (!request) {
    sink_->OnError(Error::kUnmatchedResponse);
    return;
  }
  if (request->api_key != kApiFetch) return;
  fields_.clear();
  FrameReports reports(*sink_, fields_, cut_reason);
  ParseFetchResponse(request->api_version, request->correlation_id, body, whole, reports);
}

}  // namespace tracegap::kafka
