#pragma once
// A bounds-checked reader of Kafka wire types over a byte view: big-endian integers, the
// zigzag varints of records, the unsigned varints of flexible versions, strings, byte fields and
// tagged-field sections. Never allocates.
//
// Failure is sticky: once a read fails, every later one fails too, and the reader says why:
//   short()  the bytes ended first (in a copy that was cut, the rest was simply not copied)
//   bad()    the bytes can never be valid (a varint longer than its type, a negative length
//            where none is allowed)
// so a parser can chain reads and decide once, at the end, between "cut" and "malformed".

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::kafka {

class Reader {
 public:
  enum class Status : uint8_t { kOk, kShort, kBad };

  explicit constexpr Reader(std::string_view bytes) : rest_(bytes) {}

  constexpr bool ok() const { return status_ == Status::kOk; }
  constexpr bool short_read() const { return status_ == Status::kShort; }
  constexpr bool bad() const { return status_ == Status::kBad; }
  constexpr std::size_t remaining() const { return rest_.size(); }
  constexpr std::string_view rest() const { return rest_; }

  constexpr bool Bytes(uint64_t n, std::string_view& out) {
    if (!ok()) return false;
    if (n > rest_.size()) return Fail(Status::kShort);
    out = rest_.substr(0, static_cast<std::size_t>(n));
    rest_.remove_prefix(static_cast<std::size_t>(n));
    return true;
  }
  constexpr bool Skip(uint64_t n) {
    std::string_view ignored;
    return Bytes(n, ignored);
  }

  constexpr bool I8(int8_t& v) { return Signed(1, v); }
  constexpr bool I16(int16_t& v) { return Signed(2, v); }
  constexpr bool I32(int32_t& v) { return Signed(4, v); }
  constexpr bool I64(int64_t& v) { return Signed(8, v); }

  // Kafka's unsigned varint (flexible versions: compact lengths, tagged fields): 7 bits a byte,
  // least significant first, at most 5 bytes; bits past 32 are dropped, as Kafka's reader does.
  constexpr bool UnsignedVarint(uint32_t& v) {
    uint64_t x = 0;
    if (!Base128(5, x)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  // The zigzag varint (int32, at most 5 bytes) and varlong (int64, at most 10) of records.
  constexpr bool Varint(int32_t& v) {
    uint64_t x = 0;
    if (!Base128(5, x)) return false;
    const auto u = static_cast<uint32_t>(x);
    v = static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  constexpr bool Varlong(int64_t& v) {
    uint64_t x = 0;
    if (!Base128(10, x)) return false;
    v = static_cast<int64_t>((x >> 1) ^ (~(x & 1) + 1));
    return true;
  }

  // STRING / NULLABLE_STRING: an int16 length (-1: null, read as empty), then that many bytes.
  constexpr bool String(std::string_view& out, bool nullable) {
    int16_t n = 0;
    if (!I16(n)) return false;
    if (n == -1 && nullable) {
      out = {};
      return true;
    }
    if (n < 0) return Fail(Status::kBad);
    return Bytes(static_cast<uint64_t>(n), out);
  }
  // COMPACT_STRING / COMPACT_NULLABLE_STRING: an unsigned varint length + 1 (0: null), then bytes.
  constexpr bool CompactString(std::string_view& out, bool nullable) {
    uint32_t n = 0;
    if (!UnsignedVarint(n)) return false;
    if (n == 0) {
      if (!nullable) return Fail(Status::kBad);
      out = {};
      return true;
    }
    return Bytes(n - 1, out);
  }
  // Either, by the version's flexibility.
  constexpr bool AnyString(bool flexible, std::string_view& out, bool nullable) {
    return flexible ? CompactString(out, nullable) : String(out, nullable);
  }

  // An ARRAY's count (int32) or a COMPACT_ARRAY's (unsigned varint count + 1); a null array
  // (-1, or 0 compact) is read as empty when `nullable`, else it is bad.
  constexpr bool ArrayCount(bool flexible, uint32_t& count, bool nullable) {
    int64_t n = 0;
    if (flexible) {
      uint32_t c = 0;
      if (!UnsignedVarint(c)) return false;
      n = int64_t{c} - 1;
    } else {
      int32_t c = 0;
      if (!I32(c)) return false;
      n = c;
    }
    if (n == -1 && nullable) {
      count = 0;
      return true;
    }
    if (n < 0) return Fail(Status::kBad);
    count = static_cast<uint32_t>(n);
    return true;
  }

  // The length of a NULLABLE_BYTES / RECORDS field (int32, -1: null) or of its compact form
  // (unsigned varint length + 1, 0: null); null is read as 0. The bytes themselves are not read.
  constexpr bool BytesLength(bool flexible, uint64_t& length) {
    uint32_t n = 0;
    if (!ArrayCount(flexible, n, true)) return false;
    length = n;
    return true;
  }

  // A flexible version's tagged-field section: a count, then per field a tag, a size and that
  // many bytes; every field is skipped.
  constexpr bool SkipTaggedFields() {
    uint32_t count = 0;
    if (!UnsignedVarint(count)) return false;
    for (uint32_t i = 0; i < count; ++i) {  // each field is at least 2 bytes: bounded by the input
      uint32_t tag = 0;
      uint32_t size = 0;
      if (!UnsignedVarint(tag) || !UnsignedVarint(size) || !Skip(size)) return false;
    }
    return true;
  }

  // Marks the reader failed (used by parsers for values they find impossible).
  constexpr bool Fail(Status why) {
    if (ok()) status_ = why;
    return false;
  }

 private:
  template <typename T>
  constexpr bool Signed(std::size_t n, T& v) {
    if (!ok()) return false;
    if (n > rest_.size()) return Fail(Status::kShort);
    uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(n);
    v = static_cast<T>(x);
    return true;
  }

  constexpr bool Base128(std::size_t max_bytes, uint64_t& v) {
    if (!ok()) return false;
    uint64_t x = 0;
    for (std::size_t i = 0; i < max_bytes; ++i) {
      if (i >= rest_.size()) return Fail(Status::kShort);
      const auto b = static_cast<uint8_t>(rest_[i]);
      x |= uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        rest_.remove_prefix(i + 1);
        v = x;
        return true;
      }
    }
    return Fail(Status::kBad);  // longer than its type
  }

  std::string_view rest_;
  Status status_ = Status::kOk;
};

}  // namespace tracegap::kafka
