#include "protocols/http1/reassembler.h"

#include <algorithm>

#include "protocols/http1/parser.h"

namespace tracegap::http1 {
namespace {

constexpr auto npos = std::string_view::npos;
constexpr std::size_t kTerminatorBytes = 4;  // "\r\n\r\n"

// One byte of a matcher for "\r\n\r\n"; `match` is how many of its bytes were just seen.
uint8_t MatchStep(uint8_t match, char c) {
  char expect = (match & 1) ? '\n' : '\r';
  if (c == expect) return static_cast<uint8_t>(match + 1);
  return c == '\r' ? 1 : 0;
}

// Offset just past the first CRLFCRLF in `bytes`, where the bytes before them ended with
// `match` bytes of one; npos if there is none, and then `match` describes the end of `bytes`.
std::size_t FindBlockEnd(std::string_view bytes, uint8_t& match) {
  std::size_t i = 0;
  while (match != 0 && i < bytes.size()) {
    match = MatchStep(match, bytes[i++]);
    if (match == kTerminatorBytes) {
      match = 0;
      return i;
    }
  }
  if (i == bytes.size()) return npos;
  std::size_t found = bytes.find("\r\n\r\n", i);
  if (found != npos) return found + kTerminatorBytes;
  // No terminator: only the last three bytes can hold the start of one.
  std::size_t tail = std::max(i, bytes.size() - std::min<std::size_t>(bytes.size(), 3));
  for (std::size_t j = tail; j < bytes.size(); ++j) match = MatchStep(match, bytes[j]);
  return npos;
}

}  // namespace

Reassembler::Reassembler(std::size_t max_block_bytes)
    : max_block_bytes_(std::max(max_block_bytes, kTerminatorBytes)) {}

void Reassembler::Feed(std::string_view bytes, uint16_t flags, MessageSink& sink) {
  BeginEvent(flags, sink);
  if (state_ == State::kSkipping) bytes = Skip(bytes);
  if (state_ == State::kPending) bytes = ContinuePending(bytes, sink);
  // Bytes are left only once no block is pending or being skipped.
  const bool truncated = (flags & TG_DATA_TRUNCATED) != 0;
  ParseBlocks(bytes, truncated, sink);
  if (truncated) {
    // The kernel stopped copying the trailing block: nothing more of it will come.
    if (state_ == State::kPending) FlushPending(ParseError::kTruncated, sink);
    if (state_ == State::kSkipping) state_ = State::kIdle;
  }
}

void Reassembler::Close(MessageSink& sink) {
  FlushPending(ParseError::kClosed, sink);
  state_ = State::kIdle;
  match_ = 0;
}

// Applies what the flags say about the relation of this event to the previous one.
void Reassembler::BeginEvent(uint16_t flags, MessageSink& sink) {
  const bool continuation = (flags & TG_DATA_CONTINUATION) != 0;
  if ((flags & TG_DATA_LOST_BEFORE) != 0) {
    FlushPending(ParseError::kLost, sink);
    state_ = State::kIdle;
  } else if (!continuation) {
    FlushPending(ParseError::kAbandoned, sink);
    state_ = State::kIdle;
  }
  if (continuation && state_ == State::kIdle) {
    sink.OnError(ParseError::kUnsynced);
    StartSkipping(0);
  }
}

std::string_view Reassembler::Skip(std::string_view bytes) {
  std::size_t end = FindBlockEnd(bytes, match_);
  if (end == npos) return {};
  state_ = State::kIdle;
  match_ = 0;
  return bytes.substr(end);
}

// Adds the event's bytes up to the pending block's end; returns the bytes after that end.
std::string_view Reassembler::ContinuePending(std::string_view bytes, MessageSink& sink) {
  std::size_t end = FindBlockEnd(bytes, match_);
  std::size_t take = end == npos ? bytes.size() : end;
  std::size_t total = pending_.size() + take;
  // An incomplete block of max_block_bytes can only complete beyond the limit.
  bool too_large = end == npos ? total >= max_block_bytes_ : total > max_block_bytes_;
  std::size_t room = max_block_bytes_ - pending_.size();  // > 0: see ParseBlocks
  pending_.append(bytes.substr(0, std::min(take, room)));
  if (too_large) {
    uint8_t match = match_;
    FlushPending(ParseError::kTooLarge, sink);
    if (end == npos) {
      StartSkipping(match);
      return {};
    }
    return bytes.substr(end);
  }
  if (end == npos) return {};
  FlushPending(ParseError::kOk, sink);
  return bytes.substr(end);
}

// Parses the blocks of `bytes`, which start at a message start; keeps a trailing incomplete
// block pending unless it is already known to be incomplete for good.
void Reassembler::ParseBlocks(std::string_view bytes, bool truncated, MessageSink& sink) {
  while (!bytes.empty()) {
    uint8_t match = 0;
    std::size_t end = FindBlockEnd(bytes, match);
    if (end != npos) {
      if (end > max_block_bytes_) {
        Deliver(bytes.substr(0, max_block_bytes_), ParseError::kTooLarge, sink);
      } else {
        Deliver(bytes.substr(0, end), ParseError::kOk, sink);
      }
      bytes.remove_prefix(end);
      continue;
    }
    if (bytes.size() >= max_block_bytes_) {
      Deliver(bytes.substr(0, max_block_bytes_), ParseError::kTooLarge, sink);
      StartSkipping(match);
    } else if (truncated) {
      Deliver(bytes, ParseError::kTruncated, sink);
    } else {
      // Reserving up front keeps appends from reallocating; the cap keeps an absurd limit
      // from turning into one huge allocation before any byte needs it.
      pending_.reserve(std::min<std::size_t>(max_block_bytes_, TG_MAX_COPY));
      pending_.assign(bytes);
      state_ = State::kPending;
      match_ = match;
    }
    return;
  }
}

void Reassembler::StartSkipping(uint8_t match) {
  state_ = State::kSkipping;
  match_ = match;
}

// Delivers the pending block (complete if `reason` is kOk) and forgets it.
void Reassembler::FlushPending(ParseError reason, MessageSink& sink) {
  if (state_ != State::kPending) return;
  Deliver(pending_, reason, sink);
  pending_.clear();
  state_ = State::kIdle;
  match_ = 0;
}

void Reassembler::Deliver(std::string_view block, ParseError incomplete_reason, MessageSink& sink) {
  ParseError err = ParseHeaderBlock(block, incomplete_reason, message_, scratch_);
  if (err == ParseError::kOk) {
    sink.OnMessage(message_);
  } else {
    sink.OnError(err);
  }
}

}  // namespace tracegap::http1
