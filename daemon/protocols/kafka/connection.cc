#include "protocols/kafka/connection.h"

namespace tracegap::kafka {

Connection::Connection(std::size_t cap, std::size_t max_in_flight)
    : requests_(Side::kRequests, cap),
      responses_(Side::kResponses, cap),
      in_flight_(max_in_flight) {}

void Connection::Feed(bool requests, std::string_view bytes, uint16_t flags, MessageSink& sink) {
  (requests ? requests_ : responses_).Feed(bytes, flags, in_flight_, sink);
}

void Connection::Close(MessageSink& sink) {
  requests_.Close(in_flight_, sink);
  responses_.Close(in_flight_, sink);
  in_flight_.Clear();
}

std::size_t Connection::memory_bytes() const {
  return requests_.memory_bytes() + responses_.memory_bytes() + in_flight_.memory_bytes();
}

std::size_t Connection::MemoryBound(std::size_t cap, std::size_t max_in_flight) {
  return 2 * DirectionDecoder::MemoryBound(cap) + InFlight::MemoryBound(max_in_flight);
}

}  // namespace tracegap::kafka
