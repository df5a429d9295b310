#pragma once
// NATS control lines as the kernel emits them (bpf/tracegap.h: TG_DATA_NATS): for every protocol
// operation on the wire of one direction except INFO and CONNECT, its control line with the
// terminating "\r\n"; after a line that frames a header block (below), the first
// min(header_bytes, cap) bytes of that block, where cap is --max-header-bytes. No payload byte is
// ever emitted (nor the "\r\n" that ends a payload).
//
// The grammar (docs.nats.io, "Client protocol"; nats-server's parser):
//   PUB   <subject> [reply-to] <#bytes>
//   HPUB  <subject> [reply-to] <#header bytes> <#total bytes>
//   MSG   <subject> <sid> [reply-to] <#bytes>
//   HMSG  <subject> <sid> [reply-to] <#header bytes> <#total bytes>
//   SUB   <subject> [queue group] <sid>        UNSUB <sid> [max_msgs]
//   PING  PONG  +OK  -ERR <anything>            INFO {...}  CONNECT {...}
// The operation is the bytes from the line's start to its first space or tab (so a line that
// begins with one has an empty, unknown operation), matched without regard to case. The fields
// after it are separated by runs of spaces and tabs (leading and trailing runs are ignored). A
// size is 1 to 9 decimal digits, as nats-server's parseSize accepts (no sign; leading zeros
// allowed), so it always fits 32 bits.
//
// A line frames a header block (LineMeaning::header_block) when its operation is HPUB with 3 or 4
// fields or HMSG with 4 or 5, its last two fields are sizes, and header bytes <= total bytes. This
// is the rule the kernel side must apply to know that header bytes follow; every other line is
// followed by the next line. The rule reads only the operation, the number of fields and the last
// two fields, so a line can be scanned in pieces (LineScanner) without being held whole, as the
// kernel does.
//
// Pure functions and a small value type; no allocation.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/nats/errors.h"
#include "protocols/nats/message.h"

namespace tracegap::nats {

// --max-header-bytes: its default and the largest value the kernel side accepts. It also bounds
// a control line: a longer one is reported (kLineTooLong) and only scanned, never held.
inline constexpr std::size_t kDefaultCap = 4096;
inline constexpr std::size_t kMaxCap = 8192;
inline constexpr std::size_t kMaxSizeDigits = 9;

enum class Operation : uint8_t {
  kUnknown,
  kInfo,
  kConnect,
  kPub,
  kHpub,
  kSub,
  kUnsub,
  kMsg,
  kHmsg,
  kPing,
  kPong,
  kOk,   // +OK
  kErr,  // -ERR
};

// The operation's name in lowercase ("unknown" for kUnknown).
constexpr std::string_view Label(Operation op) {
  switch (op) {
    case Operation::kUnknown:
      return "unknown";
    case Operation::kInfo:
      return "info";
    case Operation::kConnect:
      return "connect";
    case Operation::kPub:
      return "pub";
    case Operation::kHpub:
      return "hpub";
    case Operation::kSub:
      return "sub";
    case Operation::kUnsub:
      return "unsub";
    case Operation::kMsg:
      return "msg";
    case Operation::kHmsg:
      return "hmsg";
    case Operation::kPing:
      return "ping";
    case Operation::kPong:
      return "pong";
    case Operation::kOk:
      return "+ok";
    case Operation::kErr:
      return "-err";
  }
  return kInvalidLabel;
}

// The operation named `name` (any case); kUnknown if none.
Operation OperationOf(std::string_view name);

// A size field: valid if 1 to kMaxSizeDigits decimal digits.
struct Size {
  bool valid = false;
  uint32_t value = 0;
};
Size ParseSize(std::string_view field);

// What the framing rule and the validity checks read of a line.
struct LineShape {
  Operation op = Operation::kUnknown;
  std::size_t fields = 0;  // after the operation
  Size last;               // the last field, if any
  Size before_last;        // the one before it, if any
};

// Scans one line's bytes, without its "\r\n", fed in any pieces; O(1) state.
class LineScanner {
 public:
  void Feed(std::string_view bytes);
  LineShape Finish() const;

 private:
  struct SizeState {
    std::size_t digits = 0;  // saturates past kMaxSizeDigits
    uint32_t value = 0;
    bool other = false;  // a byte that is not a digit
    Size Get() const;
  };

  static constexpr std::size_t kOpMax = 7;  // "CONNECT"
  std::array<char, kOpMax> op_{};
  std::size_t op_len_ = 0;  // saturates at kOpMax + 1
  bool op_done_ = false;
  bool in_field_ = false;
  std::size_t fields_ = 0;
  SizeState current_;
  Size last_;
  Size before_last_;
};

// What a line means, from its shape alone.
struct LineMeaning {
  Error error = Error::kNone;  // a malformed line: no message, no header block
  bool message = false;        // PUB, HPUB, MSG or HMSG, well formed
  MessageKind kind = MessageKind::kPublish;
  // HPUB or HMSG: the framing rule above holds, and the first min(header_bytes, cap) bytes of the
  // header block follow the line in the stream.
  bool header_block = false;
  uint32_t header_bytes = 0;
  uint32_t total_bytes = 0;  // HPUB, HMSG: header and payload; PUB, MSG: payload
};
LineMeaning Classify(const LineShape& shape);

// A whole line (without its "\r\n"): its meaning and, for a message, the fields as sent.
struct ControlLine {
  Operation op = Operation::kUnknown;
  LineMeaning meaning;
  std::string_view subject;
  std::string_view reply_to;  // empty if none
  std::string_view sid;       // MSG, HMSG
};
ControlLine ParseLine(std::string_view line);

}  // namespace tracegap::nats
