#include "protocols/http2/hpack.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

namespace tracegap::http2 {
namespace {

// RFC 7541 section 4.1: each field costs its name, its value and 32 bytes of overhead.
constexpr std::size_t kFieldOverhead = 32;

// nghttp2 is handed a valid pointer even for empty input.
constexpr uint8_t kNoInput = 0;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Reads an HPACK integer (RFC 7541 section 5.1) with an N-bit prefix. Values that do not fit in
// 32 bits are refused: no table index or size that large is valid.
bool ReadInteger(std::string_view& in, int prefix_bits, uint32_t& out) {
  if (in.empty()) return false;
  const uint32_t max_prefix = (1u << prefix_bits) - 1;
  uint64_t value = static_cast<uint8_t>(in[0]) & max_prefix;
  in.remove_prefix(1);
  if (value < max_prefix) {
    out = static_cast<uint32_t>(value);
    return true;
  }
  for (int shift = 0; shift <= 28; shift += 7) {
    if (in.empty()) return false;
    const uint8_t b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    value += uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      if (value > UINT32_MAX) return false;
      out = static_cast<uint32_t>(value);
      return true;
    }
  }
  return false;
}

}  // namespace

HpackDecoder::HpackDecoder(const HpackLimits& limits) : limits_(limits) {
  if (nghttp2_hd_inflate_new2(&inflater_, nullptr) != 0) {
    inflater_ = nullptr;
    failed_ = true;
    unreported_ = true;
  }
}

HpackDecoder::~HpackDecoder() {
  if (inflater_ != nullptr) nghttp2_hd_inflate_del(inflater_);
}

std::size_t HpackDecoder::dynamic_table_size() const {
  return inflater_ == nullptr ? 0 : nghttp2_hd_inflate_get_dynamic_table_size(inflater_);
}

Error HpackDecoder::Fail(Error e) {
  failed_ = true;
  in_block_ = false;
  done_ = false;
  if (inflater_ != nullptr) nghttp2_hd_inflate_del(inflater_);
  inflater_ = nullptr;
  std::string().swap(arena_);
  std::vector<FieldRef>().swap(refs_);
  std::vector<HeaderField>().swap(fields_);
  return e;
}

void HpackDecoder::SetTableSizeLimit(uint32_t settings_value) {
  wanted_limit_ = std::min(settings_value, limits_.max_table_size);
  // nghttp2 refuses a change inside a block; BeginBlock() applies it then.
  if (!in_block_) ApplyLimit();
}

void HpackDecoder::ApplyLimit() {
  if (failed_ || applied_limit_ == wanted_limit_) return;
  // Outside a block this fails only if memory runs out; the next Feed() reports it.
  if (nghttp2_hd_inflate_change_table_size(inflater_, wanted_limit_) != 0) {
    Fail(Error::kHpackInvalid);
    unreported_ = true;
    return;
  }
  applied_limit_ = wanted_limit_;
}

void HpackDecoder::BeginBlock() {
  if (failed_) return;
  if (in_block_) {
    Fail(Error::kHpackInvalid);  // the previous block never ended: the state is unknown
    unreported_ = true;
    return;
  }
  if (arena_.capacity() > kRetainBytes) std::string().swap(arena_);
  const std::size_t retain_fields = kRetainBytes / sizeof(FieldRef);
  if (refs_.capacity() > retain_fields) std::vector<FieldRef>().swap(refs_);
  if (fields_.capacity() > retain_fields) std::vector<HeaderField>().swap(fields_);
  arena_.clear();
  refs_.clear();
  fields_.clear();
  block_bytes_ = 0;
  decoded_bytes_ = 0;
  overflow_ = false;
  done_ = false;
  ApplyLimit();
  if (!failed_) in_block_ = true;
}

void HpackDecoder::Copy(std::string_view name, std::string_view value) {
  const std::size_t needed = arena_.size() + name.size() + value.size();
  if (needed > arena_.capacity()) {
    // Grow by doubling, but never past the limit: the accounting already keeps `needed` below it.
    const std::size_t grown = std::max({arena_.capacity() * 2, needed, std::size_t{1024}});
    arena_.reserve(std::min(grown, std::max(needed, limits_.max_decoded_bytes)));
  }
  FieldRef ref;
  ref.name_offset = static_cast<uint32_t>(arena_.size());
  ref.name_size = static_cast<uint32_t>(name.size());
  for (char c : name) arena_.push_back(Lower(c));
  ref.value_offset = static_cast<uint32_t>(arena_.size());
  ref.value_size = static_cast<uint32_t>(value.size());
  arena_.append(value);
  refs_.push_back(ref);
}

Error HpackDecoder::Feed(std::string_view fragment, bool last) {
  if (failed_) {
    // A failure outside Feed() (allocation) is reported by the first Feed() after it.
    if (!unreported_) return Error::kNone;
    unreported_ = false;
    return Error::kHpackInvalid;
  }
  if (!in_block_) return Error::kNone;
  block_bytes_ += fragment.size();
  if (block_bytes_ > limits_.max_block_bytes) return Fail(Error::kHeaderBlockTooLarge);

  Error result = Error::kNone;
  const uint8_t* in =
      fragment.empty() ? &kNoInput : reinterpret_cast<const uint8_t*>(fragment.data());
  std::size_t left = fragment.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t rv = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, last ? 1 : 0);
    if (rv < 0 || static_cast<std::size_t>(rv) > left) return Fail(Error::kHpackInvalid);
    in += rv;
    left -= static_cast<std::size_t>(rv);
    const bool emitted = (flags & NGHTTP2_HD_INFLATE_EMIT) != 0;
    if (emitted) {
      decoded_bytes_ += nv.namelen + nv.valuelen + kFieldOverhead;
      if (!overflow_ && decoded_bytes_ > limits_.max_decoded_bytes) {
        overflow_ = true;
        result = Error::kDecodedTooLarge;
        std::string().swap(arena_);
        std::vector<FieldRef>().swap(refs_);
      }
      if (!overflow_) {
        Copy({reinterpret_cast<const char*>(nv.name), nv.namelen},
             {reinterpret_cast<const char*>(nv.value), nv.valuelen});
      }
    }
    if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(inflater_);
      break;
    }
    if (!emitted && (left == 0 || rv == 0)) break;
  }
  // nghttp2 consumes all input unless it fails; anything left would desynchronise the table.
  if (left != 0) return Fail(Error::kHpackInvalid);
  if (!last) return result;
  in_block_ = false;
  done_ = true;
  if (!overflow_) {
    fields_.reserve(refs_.size());
    for (const FieldRef& r : refs_) {
      fields_.push_back({std::string_view(arena_).substr(r.name_offset, r.name_size),
                         std::string_view(arena_).substr(r.value_offset, r.value_size)});
    }
  }
  return result;
}

BlockKind PeekBlockKind(std::string_view in) {
  // Dynamic table size updates (001xxxxx) may come first.
  while (!in.empty() && (static_cast<uint8_t>(in[0]) & 0xe0) == 0x20) {
    uint32_t ignored = 0;
    if (!ReadInteger(in, 5, ignored)) return BlockKind::kUnknown;
  }
  if (in.empty()) return BlockKind::kUnknown;
  const uint8_t b = static_cast<uint8_t>(in[0]);
  int prefix_bits = 4;  // literal without indexing / never indexed
  if ((b & 0x80) != 0)
    prefix_bits = 7;  // indexed field
  else if ((b & 0x40) != 0)
    prefix_bits = 6;  // literal with incremental indexing
  uint32_t index = 0;
  if (!ReadInteger(in, prefix_bits, index)) return BlockKind::kUnknown;
  // Static table: 1 :authority, 2-3 :method, 4-5 :path, 6-7 :scheme, 8-14 :status.
  if (index >= 1 && index <= 7) return BlockKind::kRequest;
  if (index >= 8 && index <= 14) return BlockKind::kResponse;
  return BlockKind::kUnknown;
}

bool TableSizeTracker::OnSettings(std::optional<uint32_t> header_table_size) {
  bool ok = true;
  if (count_ == kMaxPending) {
    OnAck();
    ok = false;
  }
  pending_[(head_ + count_) % kMaxPending] =
      header_table_size ? int64_t{*header_table_size} : kNoValue;
  ++count_;
  return ok;
}

void TableSizeTracker::OnAck() {
  if (count_ == 0) return;  // the ACK of a SETTINGS sent before the direction was followed
  const int64_t value = pending_[head_];
  head_ = (head_ + 1) % kMaxPending;
  --count_;
  if (value != kNoValue) acked_ = static_cast<uint32_t>(value);
}

uint32_t TableSizeTracker::limit() const {
  if (unknown_) return cap_;
  int64_t limit = acked_;
  for (std::size_t i = 0; i < count_; ++i) {
    limit = std::max(limit, pending_[(head_ + i) % kMaxPending]);
  }
  return static_cast<uint32_t>(std::min<int64_t>(limit, cap_));
}

}  // namespace tracegap::http2
