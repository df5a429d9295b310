#pragma once
// HPACK for one direction of one connection: nghttp2's inflater, plus the limits that keep a
// hostile peer from costing more than a bounded amount of memory, plus the two pieces of HPACK
// knowledge the connection needs without a decoder (PeekBlockKind) and to feed one its
// SETTINGS_HEADER_TABLE_SIZE at the right moment (TableSizeTracker).
//
// Thread safety: none. One owner calls every method; distinct instances are independent.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/http2/errors.h"
#include "protocols/http2/frame_parser.h"

struct nghttp2_hd_inflater;

namespace tracegap::http2 {

struct HpackLimits {
  // Compressed bytes of one header block (all its fragments).
  std::size_t max_block_bytes = 64 * 1024;
  // Decoded size of one block, counted as in SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32
  // per field. This bounds the copy of an HPACK bomb (one large table entry referenced over and
  // over: a few bytes of input each).
  std::size_t max_decoded_bytes = 256 * 1024;
  // The largest dynamic table the decoder accepts, whatever the peer advertises: this bounds the
  // inflater's memory. An encoder using a larger table makes decoding fail (kHpackInvalid).
  uint32_t max_table_size = 64 * 1024;
};

// Decodes the header blocks of one direction in order. A block is BeginBlock(), then one Feed()
// per fragment (HEADERS or PUSH_PROMISE, then each CONTINUATION), the last with last == true.
//
// Errors returned by Feed():
//   kDecodedTooLarge      once per block, not fatal: decoding goes on (the dynamic table must
//                         stay in step with the encoder) but fields are no longer copied, and
//                         complete() is false for the block.
//   kHeaderBlockTooLarge  fatal: the block's fragments exceed max_block_bytes.
//   kHpackInvalid         fatal: nghttp2 rejected the input (bad index, bad Huffman code, a table
//                         size update above the limit or not where one is due, a block ending
//                         inside a representation, ...).
// After a fatal error failed() is true, the decoder's state no longer matches the encoder's, and
// every later Feed() returns kNone without doing anything: the owner should drop the decoder.
//
// Memory: the decoded fields are copied into an arena owned by the decoder, never larger than
// max_decoded_bytes; an arena grown past kRetainBytes is released at the next BeginBlock().
class HpackDecoder {
 public:
  static constexpr std::size_t kRetainBytes = 8 * 1024;

  explicit HpackDecoder(const HpackLimits& limits = {});
  ~HpackDecoder();
  HpackDecoder(const HpackDecoder&) = delete;
  HpackDecoder& operator=(const HpackDecoder&) = delete;

  void BeginBlock();
  Error Feed(std::string_view fragment, bool last);

  // The settings value the encoder of this direction must obey (the decoder side's
  // SETTINGS_HEADER_TABLE_SIZE, once in effect), clamped to max_table_size. Takes effect at the
  // next block boundary.
  void SetTableSizeLimit(uint32_t settings_value);
  uint32_t table_size_limit() const { return wanted_limit_; }

  bool failed() const { return failed_; }
  bool in_block() const { return in_block_; }
  // After the last Feed() of a block: whether every field was decoded and copied.
  bool complete() const { return done_ && !failed_ && !overflow_; }
  // Every field of the block in order (names lowercased, values as on the wire). Valid after the
  // last Feed() of a block that is complete(), until the next BeginBlock().
  std::span<const HeaderField> fields() const { return fields_; }

  // For tests: memory held by the copy of decoded fields, and the dynamic table's size.
  std::size_t arena_capacity() const { return arena_.capacity(); }
  std::size_t dynamic_table_size() const;

 private:
  struct FieldRef {
    uint32_t name_offset;
    uint32_t name_size;
    uint32_t value_offset;
    uint32_t value_size;
  };

  void ApplyLimit();
  void Copy(std::string_view name, std::string_view value);
  Error Fail(Error e);

  HpackLimits limits_;
  nghttp2_hd_inflater* inflater_ = nullptr;
  uint32_t applied_limit_ = kDefaultHeaderTableSize;
  uint32_t wanted_limit_ = kDefaultHeaderTableSize;
  bool failed_ = false;
  bool unreported_ = false;  // failed_ outside Feed(): the next Feed() returns the error
  bool in_block_ = false;
  bool done_ = false;
  bool overflow_ = false;
  std::size_t block_bytes_ = 0;
  std::size_t decoded_bytes_ = 0;
  std::string arena_;
  std::vector<FieldRef> refs_;
  std::vector<HeaderField> fields_;
};

// What a header block is, judged from its first field representation (after any dynamic table
// size updates) when that refers to the static table: a request pseudo-header (:authority,
// :method, :path, :scheme) or :status. Needs no decoder state and reads no value, so it is usable
// on a direction joined late; anything else (a dynamic table reference, a literal name) is
// kUnknown. Used only to tell requests from responses, never to read a header.
enum class BlockKind : uint8_t { kUnknown, kRequest, kResponse };
BlockKind PeekBlockKind(std::string_view fragment);

// Which SETTINGS_HEADER_TABLE_SIZE the decoder of one direction must honour.
//
// The encoder of a direction obeys the settings of the endpoint that RECEIVES that direction, and
// those settings travel the other way: the decoder of direction D takes its limit from SETTINGS
// frames sent in the opposite direction. A new value binds the encoder only once it has
// acknowledged it, and its ACK travels in D, in order with D's header blocks (RFC 7541 section
// 4.2: "the last value ... received from the decoder and acknowledged by the encoder"). So:
//   - a value is pending from the SETTINGS frame until the matching ACK in D;
//   - the limit is the largest of the acknowledged value and every pending one: a raise is
//     accepted at once (the encoder may apply it as soon as it reads the SETTINGS, and accepting
//     a larger update than the peer would only costs validation, never correctness), while a
//     lowering binds only from the ACK on, where nghttp2 then requires a size update at the start
//     of the next block;
//   - when the opposite direction's SETTINGS cannot all be seen (joined late, or lost), the limit
//     is `cap`: size updates are explicit in D, so decoding stays exact.
// SETTINGS are matched to ACKs in order; at most kMaxPending wait at once (more: the oldest is
// taken as acknowledged and OnSettings() returns false, a settings_flood).
class TableSizeTracker {
 public:
  static constexpr std::size_t kMaxPending = 16;

  explicit TableSizeTracker(uint32_t cap) : cap_(cap) {}

  bool OnSettings(std::optional<uint32_t> header_table_size);
  void OnAck();
  void SetUnknown() { unknown_ = true; }
  uint32_t limit() const;

 private:
  static constexpr int64_t kNoValue = -1;

  uint32_t cap_;
  bool unknown_ = false;
  uint32_t acked_ = kDefaultHeaderTableSize;
  std::array<int64_t, kMaxPending> pending_{};  // a ring; kNoValue: SETTINGS without the value
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace tracegap::http2
