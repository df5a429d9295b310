#pragma once
// A bounds-checked reader of AMQP 0-9-1 wire types (big-endian integers, short and long strings)
// over a byte view. Every read either succeeds whole or returns false; after a false return the
// position is unspecified and the reader should be abandoned. Never allocates.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::amqp {

class Reader {
 public:
  explicit constexpr Reader(std::string_view bytes) : rest_(bytes) {}

  constexpr std::size_t remaining() const { return rest_.size(); }
  constexpr std::string_view rest() const { return rest_; }

  constexpr bool Bytes(std::size_t n, std::string_view& out) {
    if (n > rest_.size()) return false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

  constexpr bool Skip(std::size_t n) {
    if (n > rest_.size()) return false;
    rest_.remove_prefix(n);
    return true;
  }

  constexpr bool U8(uint8_t& v) {
    uint64_t x = 0;
    if (!BigEndian(1, x)) return false;
    v = static_cast<uint8_t>(x);
    return true;
  }
  constexpr bool U16(uint16_t& v) {
    uint64_t x = 0;
    if (!BigEndian(2, x)) return false;
    v = static_cast<uint16_t>(x);
    return true;
  }
  constexpr bool U32(uint32_t& v) {
    uint64_t x = 0;
    if (!BigEndian(4, x)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  constexpr bool U64(uint64_t& v) { return BigEndian(8, v); }

  // shortstr: an octet length, then that many bytes.
  constexpr bool ShortStr(std::string_view& out) {
    uint8_t n = 0;
    return U8(n) && Bytes(n, out);
  }
  // longstr (and the byte array 'x' of field tables): a u32 length, then that many bytes.
  constexpr bool LongStr(std::string_view& out) {
    uint32_t n = 0;
    return U32(n) && Bytes(n, out);
  }

 private:
  constexpr bool BigEndian(std::size_t n, uint64_t& v) {
    if (n > rest_.size()) return false;
    uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(n);
    v = x;
    return true;
  }

  std::string_view rest_;
};

}  // namespace tracegap::amqp
