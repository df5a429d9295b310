#include "protocols/nats/direction_decoder.h"

#include <algorithm>

#include "protocols/nats/header_block.h"
#include "tracegap.h"  // TG_DATA_*

namespace tracegap::nats {
namespace {

constexpr std::string_view kCrlf = "\r\n";

template <typename T>
void ReleaseIfLarge(std::vector<T>& v, std::size_t retain) {
  if (v.capacity() > retain) {
    std::vector<T>().swap(v);
  } else {
    v.clear();
  }
}

}  // namespace

DirectionDecoder::DirectionDecoder(std::size_t cap) : cap_(cap) {}

std::size_t DirectionDecoder::memory_bytes() const {
  return line_.capacity() + block_.capacity() + fields_.capacity() * sizeof(HeaderField);
}

std::size_t DirectionDecoder::MemoryBound(std::size_t cap) {
  // The buffers never grow past cap (Append, the block's exact reserve) but may keep
  // kRetainBytes. Fields: at most cap / 4 (the smallest field line is "a:\r\n"), and the vector
  // grows by doubling.
  const std::size_t fields = std::max(kRetainFields, 2 * (cap / 4 + 1));
  return 2 * std::max(cap, kRetainBytes) + fields * sizeof(HeaderField);
}

void DirectionDecoder::Feed(std::string_view bytes, uint16_t flags, MessageSink& sink) {
  sink_ = &sink;
  if ((flags & TG_DATA_LOST_BEFORE) != 0) {
    sink.OnError(Error::kLost);
    if (state_ == State::kBlock) AbandonBlock(Error::kLost);
    ResetPartial();
    skipping_ = true;
  }
  if (skipping_) {
    if ((flags & TG_DATA_CONTINUATION) != 0) {  // begins inside a line or block: skip it
      sink_ = nullptr;
      return;
    }
    skipping_ = false;
  }
  while (!bytes.empty()) {
    switch (state_) {
      case State::kLine:
        FeedLine(bytes);
        break;
      case State::kLongLine:
        FeedLongLine(bytes);
        break;
      case State::kBlock:
        FeedBlock(bytes);
        break;
    }
  }
  sink_ = nullptr;
}

void DirectionDecoder::Close(MessageSink& sink) {
  sink_ = &sink;
  if (state_ != State::kLine || !line_.empty()) sink.OnError(Error::kTruncated);
  if (state_ == State::kBlock) AbandonBlock(Error::kTruncated);
  ResetPartial();
  std::vector<char>().swap(line_);
  std::vector<char>().swap(block_);
  std::vector<HeaderField>().swap(fields_);
  skipping_ = false;
  sink_ = nullptr;
}

void DirectionDecoder::ResetPartial() {
  state_ = State::kLine;
  long_ = LineScanner();
  long_cr_ = false;
  block_long_line_ = false;
  block_declared_ = 0;
  block_need_ = 0;
  ReleaseIfLarge(line_, kRetainBytes);
  ReleaseIfLarge(block_, kRetainBytes);
}

void DirectionDecoder::Append(std::vector<char>& buffer, std::string_view bytes) {
  // Callers never append past cap; growth by doubling is clamped there.
  const std::size_t need = buffer.size() + bytes.size();
  if (need > buffer.capacity()) {
    buffer.reserve(std::min(cap_, std::max({need, 2 * buffer.capacity(), std::size_t{64}})));
  }
  buffer.insert(buffer.end(), bytes.begin(), bytes.end());
}

void DirectionDecoder::FeedLine(std::string_view& bytes) {
  if (line_.empty()) {
    const std::size_t end = bytes.find(kCrlf);
    if (end != std::string_view::npos && end + kCrlf.size() <= cap_) {  // the whole line is here
      const std::string_view line = bytes.substr(0, end);
      bytes.remove_prefix(end + kCrlf.size());
      OnLine(line, &bytes);
      return;
    }
  }
  std::size_t n = bytes.size();
  bool done = false;
  if (!line_.empty() && line_.back() == '\r' && bytes.front() == '\n') {
    n = 1;
    done = true;
  } else if (const std::size_t end = bytes.find(kCrlf); end != std::string_view::npos) {
    n = end + kCrlf.size();
    done = true;
  }
  if (line_.size() + n > cap_) {  // the line, "\r\n" included, will be longer than cap
    StartLongLine();
    return;  // FeedLongLine takes the bytes
  }
  Append(line_, bytes.substr(0, n));
  bytes.remove_prefix(n);
  if (done) {
    line_.resize(line_.size() - kCrlf.size());
    OnLine({line_.data(), line_.size()}, nullptr);
  }
}

void DirectionDecoder::StartLongLine() {
  state_ = State::kLongLine;
  long_ = LineScanner();
  std::string_view held(line_.data(), line_.size());
  long_cr_ = !held.empty() && held.back() == '\r';
  if (long_cr_) held.remove_suffix(1);
  long_.Feed(held);
  ReleaseIfLarge(line_, kRetainBytes);
}

void DirectionDecoder::FeedLongLine(std::string_view& bytes) {
  if (long_cr_) {
    long_cr_ = false;
    if (bytes.front() == '\n') {
      bytes.remove_prefix(1);
      EndLongLine();
      return;
    }
    long_.Feed("\r");
  }
  if (const std::size_t end = bytes.find(kCrlf); end != std::string_view::npos) {
    long_.Feed(bytes.substr(0, end));
    bytes.remove_prefix(end + kCrlf.size());
    EndLongLine();
    return;
  }
  std::string_view chunk = bytes;
  bytes = {};
  long_cr_ = chunk.back() == '\r';  // perhaps the start of the "\r\n"
  if (long_cr_) chunk.remove_suffix(1);
  long_.Feed(chunk);
}

void DirectionDecoder::EndLongLine() {
  state_ = State::kLine;
  const LineMeaning m = Classify(long_.Finish());
  long_ = LineScanner();
  sink_->OnError(Error::kLineTooLong);
  if (!m.message) return;
  if (m.header_block) {
    StartBlock(m.kind, m.header_bytes, true);
    if (block_need_ == 0) EndBlock({});
    return;
  }
  ControlLine line;
  line.meaning = m;
  ReportPlain(line);
}

void DirectionDecoder::OnLine(std::string_view line, std::string_view* rest) {
  const ControlLine cl = ParseLine(line);
  const LineMeaning& m = cl.meaning;
  if (m.error != Error::kNone) sink_->OnError(m.error);
  if (!m.message || !m.header_block) {
    if (m.message) ReportPlain(cl);
    ReleaseIfLarge(line_, kRetainBytes);
    return;
  }
  const std::size_t need = std::min<std::size_t>(m.header_bytes, cap_);
  if (rest != nullptr && rest->size() >= need) {  // the block is here too: no copy
    const std::string_view block = rest->substr(0, need);
    rest->remove_prefix(need);
    ReportBlock(cl, block, m.header_bytes <= cap_);
    return;
  }
  if (rest != nullptr) Append(line_, line);  // keep the line while its block arrives
  StartBlock(m.kind, m.header_bytes, false);
  if (need == 0) EndBlock({});
}

void DirectionDecoder::StartBlock(MessageKind kind, uint32_t header_bytes, bool long_line) {
  state_ = State::kBlock;
  block_kind_ = kind;
  block_long_line_ = long_line;
  block_declared_ = header_bytes;
  block_need_ = std::min<std::size_t>(header_bytes, cap_);
}

void DirectionDecoder::FeedBlock(std::string_view& bytes) {
  if (block_.empty() && bytes.size() >= block_need_) {  // the whole block is here: no copy
    const std::string_view block = bytes.substr(0, block_need_);
    bytes.remove_prefix(block_need_);
    EndBlock(block);
    return;
  }
  if (block_.empty()) block_.reserve(block_need_);
  const std::size_t n = std::min(block_need_ - block_.size(), bytes.size());
  block_.insert(block_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  bytes.remove_prefix(n);
  if (block_.size() == block_need_) EndBlock({block_.data(), block_.size()});
}

void DirectionDecoder::EndBlock(std::string_view block) {
  ControlLine cl;
  if (!block_long_line_) cl = ParseLine({line_.data(), line_.size()});
  cl.meaning.kind = block_kind_;
  ReportBlock(cl, block, block_declared_ <= cap_);
  ResetPartial();
}

void DirectionDecoder::AbandonBlock(Error reason) {
  ControlLine cl;
  if (!block_long_line_) cl = ParseLine({line_.data(), line_.size()});
  cl.meaning.kind = block_kind_;
  fields_.clear();
  const HeaderBlock hb = ParseHeaderBlock({block_.data(), block_.size()}, false, fields_);
  Report(cl, true, hb.status, reason);
}

void DirectionDecoder::ReportBlock(const ControlLine& line, std::string_view block, bool whole) {
  fields_.clear();
  const HeaderBlock hb = ParseHeaderBlock(block, whole, fields_);
  if (hb.error != Error::kNone) sink_->OnError(hb.error);
  Report(line, true, hb.status, hb.error);
}

void DirectionDecoder::ReportPlain(const ControlLine& line) {
  fields_.clear();
  Report(line, false, 0, Error::kNone);
}

void DirectionDecoder::Report(const ControlLine& line, bool header_block, uint16_t status,
                              Error reason) {
  Message m;
  m.kind = line.meaning.kind;
  m.subject = line.subject;
  m.reply_to = line.reply_to;
  m.sid = line.sid;
  m.header_block = header_block;
  m.status = status;
  m.headers = fields_;
  m.complete = reason == Error::kNone;
  m.incomplete_reason = reason;
  sink_->OnMessage(m);
  ReleaseIfLarge(fields_, kRetainFields);
}

}  // namespace tracegap::nats
