#include "protocols/nats/line.h"

#include "protocols/header_field.h"

namespace tracegap::nats {
namespace {

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Every operation but kUnknown; each one's label is its name in lowercase.
constexpr std::array kNamedOperations = {
    Operation::kInfo, Operation::kConnect, Operation::kPub, Operation::kHpub,
    Operation::kSub,  Operation::kUnsub,   Operation::kMsg, Operation::kHmsg,
    Operation::kPing, Operation::kPong,    Operation::kOk,  Operation::kErr,
};

constexpr bool Between(std::size_t n, std::size_t lo, std::size_t hi) { return n >= lo && n <= hi; }

}  // namespace

Operation OperationOf(std::string_view name) {
  for (const Operation op : kNamedOperations) {
    if (EqualsLower(name, Label(op))) return op;
  }
  return Operation::kUnknown;
}

Size ParseSize(std::string_view field) {
  if (field.empty() || field.size() > kMaxSizeDigits) return {};
  uint32_t value = 0;
  for (const char c : field) {
    if (!IsDigit(c)) return {};
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return {true, value};
}

Size LineScanner::SizeState::Get() const {
  if (other || digits == 0 || digits > kMaxSizeDigits) return {};
  return {true, value};
}

void LineScanner::Feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (!op_done_) {
      if (IsOws(c)) {
        op_done_ = true;
      } else if (op_len_ <= kOpMax) {
        if (op_len_ < kOpMax) op_[op_len_] = c;
        ++op_len_;
      }
      continue;
    }
    if (IsOws(c)) {
      if (in_field_) {
        before_last_ = last_;
        last_ = current_.Get();
        in_field_ = false;
      }
      continue;
    }
    if (!in_field_) {
      in_field_ = true;
      ++fields_;
      current_ = {};
    }
    if (!IsDigit(c)) {
      current_.other = true;
    } else if (current_.digits <= kMaxSizeDigits) {
      ++current_.digits;
      // At most kMaxSizeDigits digits are kept: 999999999 fits 32 bits.
      if (current_.digits <= kMaxSizeDigits) {
        current_.value = current_.value * 10 + static_cast<uint32_t>(c - '0');
      }
    }
  }
}

LineShape LineScanner::Finish() const {
  LineShape shape;
  shape.op = op_len_ <= kOpMax ? OperationOf({op_.data(), op_len_}) : Operation::kUnknown;
  shape.fields = fields_;
  shape.last = last_;
  shape.before_last = before_last_;
  if (in_field_) {
    shape.before_last = last_;
    shape.last = current_.Get();
  }
  return shape;
}

LineMeaning Classify(const LineShape& shape) {
  LineMeaning m;
  const std::size_t n = shape.fields;
  auto bad = [&m](Error e) {
    m.error = e;
    return m;
  };
  switch (shape.op) {
    case Operation::kUnknown:
      return bad(Error::kUnknownOperation);
    case Operation::kInfo:
    case Operation::kConnect:
    case Operation::kErr:
      return m;
    case Operation::kPing:
    case Operation::kPong:
    case Operation::kOk:
      return n == 0 ? m : bad(Error::kBadArguments);
    case Operation::kSub:
      return Between(n, 2, 3) ? m : bad(Error::kBadArguments);
    case Operation::kUnsub:
      if (!Between(n, 1, 2)) return bad(Error::kBadArguments);
      return n == 1 || shape.last.valid ? m : bad(Error::kBadSize);
    case Operation::kPub:
    case Operation::kMsg: {
      const bool pub = shape.op == Operation::kPub;
      if (!(pub ? Between(n, 2, 3) : Between(n, 3, 4))) return bad(Error::kBadArguments);
      if (!shape.last.valid) return bad(Error::kBadSize);
      m.message = true;
      m.kind = pub ? MessageKind::kPublish : MessageKind::kDeliver;
      m.total_bytes = shape.last.value;
      return m;
    }
    case Operation::kHpub:
    case Operation::kHmsg: {
      const bool pub = shape.op == Operation::kHpub;
      if (!(pub ? Between(n, 3, 4) : Between(n, 4, 5))) return bad(Error::kBadArguments);
      if (!shape.last.valid || !shape.before_last.valid) return bad(Error::kBadSize);
      if (shape.before_last.value > shape.last.value) return bad(Error::kHeaderSizeOverTotal);
      m.message = true;
      m.kind = pub ? MessageKind::kPublish : MessageKind::kDeliver;
      m.header_block = true;
      m.header_bytes = shape.before_last.value;
      m.total_bytes = shape.last.value;
      return m;
    }
  }
  return bad(Error::kUnknownOperation);
}

ControlLine ParseLine(std::string_view line) {
  LineScanner scanner;
  scanner.Feed(line);
  const LineShape shape = scanner.Finish();
  ControlLine out;
  out.op = shape.op;
  out.meaning = Classify(shape);
  if (!out.meaning.message) return out;

  // A message line has at most 5 fields (HMSG with a reply-to).
  std::array<std::string_view, 5> f{};
  std::size_t i = line.find_first_of(" \t");
  std::size_t count = 0;
  while (i != std::string_view::npos && count < f.size()) {
    i = line.find_first_not_of(" \t", i);
    if (i == std::string_view::npos) break;
    const std::size_t end = line.find_first_of(" \t", i);
    f[count++] = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    i = end;
  }
  const std::size_t n = shape.fields;
  out.subject = f[0];
  switch (shape.op) {
    case Operation::kPub:
      if (n == 3) out.reply_to = f[1];
      break;
    case Operation::kHpub:
      if (n == 4) out.reply_to = f[1];
      break;
    case Operation::kMsg:
      out.sid = f[1];
      if (n == 4) out.reply_to = f[2];
      break;
    case Operation::kHmsg:
      out.sid = f[1];
      if (n == 5) out.reply_to = f[2];
      break;
    default:
      break;
  }
  return out;
}

}  // namespace tracegap::nats
