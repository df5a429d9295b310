#pragma once
// Vocabulary types of the HTTP/1 parser and reassembler: one parsed header block (Message) and
// the fixed set of reasons a block yields no message or only an incomplete one (ParseError).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/header_field.h"

namespace tracegap::http1 {

enum class MessageKind : uint8_t { kRequest, kResponse };

// Why a header block produced no Message, or why a Message is incomplete. The values are
// contiguous from 0 (metrics may index arrays by them) and each has a stable label, used as a
// Prometheus label value: never rename a label, only add new values before kCount.
enum class ParseError : uint8_t {
  kOk = 0,
  // The block was read in full (or far enough) but is not valid HTTP/1.
  kBadStartLine,    // request/status line is not `token SP target SP version` / `version SP ...`
  kBadTarget,       // request-target empty, has SP/CTL, or is of no form valid for the method
  kBadVersion,      // HTTP version other than exactly "HTTP/1.0" or "HTTP/1.1"
  kBadStatus,       // status code missing, not 3 digits, or below 100
  kBadHeaderName,   // empty field name, or a non-token byte in it (incl. SP before the colon)
  kBadHeaderLine,   // header line without a colon
  kBadHeaderValue,  // field value holds a control byte other than HTAB (NUL, bare CR, DEL, ...)
  kObsFold,         // a header line starting with SP/HTAB (obsolete line folding)
  kBareLf,          // a line ended by LF without CR
  kNotHttp1,        // the HTTP/2 connection preface ("PRI * HTTP/2.0")
  // The block could not be read in full (see Reassembler for when each fires).
  kUnsynced,   // bytes continue a block whose start was never seen; dropped to its end
  kAbandoned,  // a new message began while a block was still pending
  kTruncated,  // the kernel stopped copying the block (TG_DATA_TRUNCATED)
  kLost,       // events were lost after the block began (TG_DATA_LOST_BEFORE)
  kTooLarge,   // the block exceeds the reassembler's max_block_bytes
  kClosed,     // the connection closed while the block was pending
  // Bytes after HTTP/1 ended on the connection (http1/upgrade.h), never parsed: the kernel should
  // have stopped copying there (HTTP/1 bytes; HTTP/2 frames after an upgrade other than h2c).
  kDataAfterUpgrade,
  kFramesAfterUpgrade,
  kCount,
};

inline constexpr std::size_t kParseErrorCount = static_cast<std::size_t>(ParseError::kCount);

constexpr std::string_view ParseErrorLabel(ParseError e) {
  switch (e) {
    case ParseError::kOk:
      return "ok";
    case ParseError::kBadStartLine:
      return "bad_start_line";
    case ParseError::kBadTarget:
      return "bad_target";
    case ParseError::kBadVersion:
      return "bad_version";
    case ParseError::kBadStatus:
      return "bad_status";
    case ParseError::kBadHeaderName:
      return "bad_header_name";
    case ParseError::kBadHeaderLine:
      return "bad_header_line";
    case ParseError::kBadHeaderValue:
      return "bad_header_value";
    case ParseError::kObsFold:
      return "obs_fold";
    case ParseError::kBareLf:
      return "bare_lf";
    case ParseError::kNotHttp1:
      return "not_http1";
    case ParseError::kUnsynced:
      return "unsynced";
    case ParseError::kAbandoned:
      return "abandoned";
    case ParseError::kTruncated:
      return "truncated";
    case ParseError::kLost:
      return "lost";
    case ParseError::kTooLarge:
      return "too_large";
    case ParseError::kClosed:
      return "closed";
    case ParseError::kDataAfterUpgrade:
      return "data_after_upgrade";
    case ParseError::kFramesAfterUpgrade:
      return "frames_after_upgrade";
    case ParseError::kCount:
      break;
  }
  return "invalid";
}

// One HTTP/1 request or response header block. Every view points into bytes owned by whoever
// produced the message (the reassembler's buffer or the event being fed) and is valid only while
// the callback that delivers it runs: copy what must outlive it.
struct Message {
  MessageKind kind = MessageKind::kRequest;
  // false: the headers were not fully read, so the caller cannot tell whether a trace context
  // was sent and reports it as "unknown". `incomplete_reason` says why (kOk when complete).
  bool complete = false;
  ParseError incomplete_reason = ParseError::kOk;
  // Requests only. `path` never includes the query or fragment (privacy: queries carry tokens).
  // Origin-form "/a?x" -> "/a"; absolute-form "http://h/p?q" -> "/p" ("/" if empty);
  // authority-form (CONNECT) "h:443" and asterisk-form "*" -> the target itself.
  std::string_view method;
  std::string_view path;
  // Requests only. The target's authority for absolute-form (without any userinfo) and
  // authority-form; otherwise the first Host header's value (empty if there is none).
  std::string_view authority;
  uint8_t version_minor = 1;  // HTTP/1.<version_minor>: 0 or 1
  uint16_t status = 0;        // responses only: 100..999
  // Every header field of the block in wire order; for an incomplete message, the lines that
  // were fully read (a partial last line is left out).
  std::span<const HeaderField> headers;
  // Requests only: an Upgrade field lists the token "h2c" (any case): HTTP/2 may follow.
  bool upgrade_h2c = false;
};

}  // namespace tracegap::http1
